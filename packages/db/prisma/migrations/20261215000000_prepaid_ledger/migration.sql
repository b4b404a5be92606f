-- Prepaid mode: an append-only ledger of money movements and one balance row per user and currency,
-- written in the same transaction as each entry. Amounts are micros: 1/10000 of the currency's minor
-- unit (for usd, a millionth of a dollar), so spells may cost less than a cent.
-- A reserve takes the price out of the balance before a run, a debit makes it final (amount 0) and a
-- release gives it back. The sum of a user's entries in a currency is that balance, always.

-- CreateTable
CREATE TABLE "ledger_balances" (
    "user_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "day_start" DATE NOT NULL DEFAULT CURRENT_DATE,
    "day_spent" BIGINT NOT NULL DEFAULT 0,
    "month_start" DATE NOT NULL DEFAULT CURRENT_DATE,
    "month_spent" BIGINT NOT NULL DEFAULT 0,
    "admin_daily_limit" BIGINT,
    "admin_monthly_limit" BIGINT,
    "user_daily_limit" BIGINT,
    "user_monthly_limit" BIGINT,
    "auto_reload_threshold" BIGINT,
    "auto_reload_amount" INTEGER,
    "auto_reload_monthly_cap" INTEGER,
    "auto_reload_month" DATE,
    "auto_reload_month_total" INTEGER NOT NULL DEFAULT 0,
    "auto_reload_started_at" TIMESTAMPTZ(6),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_balances_pkey" PRIMARY KEY ("user_id", "currency")
);

-- CreateTable
CREATE TABLE "ledger_entries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "balance_after" BIGINT NOT NULL,
    "execution_id" UUID,
    "reserve_id" UUID,
    "payment_intent_id" TEXT,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ledger_entries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ledger_entries_user_id_created_at_idx" ON "ledger_entries"("user_id", "created_at" DESC);

-- One reserve per execution, one settlement (debit or release) per reserve, one credit per top-up.
CREATE UNIQUE INDEX "ledger_entries_reserve_execution_key" ON "ledger_entries"("execution_id") WHERE "kind" = 'reserve';
CREATE UNIQUE INDEX "ledger_entries_settled_reserve_key" ON "ledger_entries"("reserve_id") WHERE "kind" IN ('debit', 'release');
CREATE UNIQUE INDEX "ledger_entries_top_up_intent_key" ON "ledger_entries"("payment_intent_id") WHERE "kind" = 'top_up';

-- Never an overdraft, whatever the concurrency: the conditional UPDATE and this CHECK.
ALTER TABLE "ledger_balances" ADD CONSTRAINT "ledger_balances_balance_check" CHECK ("balance" >= 0);
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_kind_check" CHECK ("kind" IN ('top_up', 'reserve', 'debit', 'release', 'refund', 'adjustment'));
