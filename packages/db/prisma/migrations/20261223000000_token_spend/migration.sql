-- Per-token spend caps (the spell:max_spend JWT claim) and refunds of prepaid top-ups.
-- token_spend: what one capped token has spent (micros of its currency), checked and raised in one
-- conditional upsert, so no concurrency or process count takes a token past its cap.
-- token_spend_charges: one row per charge a capped token made (keyed by the execution), so a
-- failed run gives back exactly its own amount, once.

-- CreateTable
CREATE TABLE "token_spend" (
    "token_key" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "spent" BIGINT NOT NULL DEFAULT 0,
    "cap" BIGINT NOT NULL,
    "expires_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "token_spend_pkey" PRIMARY KEY ("token_key")
);

-- CreateTable
CREATE TABLE "token_spend_charges" (
    "execution_id" UUID NOT NULL,
    "token_key" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "charge_id" TEXT,
    "released_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "token_spend_charges_pkey" PRIMARY KEY ("execution_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "token_spend_charges_charge_id_key" ON "token_spend_charges"("charge_id") WHERE "charge_id" IS NOT NULL;
CREATE INDEX "token_spend_charges_token_key_idx" ON "token_spend_charges"("token_key");
CREATE INDEX "token_spend_expires_at_idx" ON "token_spend"("expires_at");

ALTER TABLE "token_spend" ADD CONSTRAINT "token_spend_spent_check" CHECK ("spent" >= 0 AND "spent" <= "cap");

-- Auto-reload: the last failed reload (a declined card), shown on the balance. A failure keeps the
-- claim time, so the next try waits out the in-flight window instead of hammering the card.
ALTER TABLE "ledger_balances" ADD COLUMN "auto_reload_failed_at" TIMESTAMPTZ(6);
ALTER TABLE "ledger_balances" ADD COLUMN "auto_reload_failure" TEXT;

-- Refunds of top-ups: a refund entry names the top-up's PaymentIntent (payment_intent_id) and its
-- own key, and a refund Stripe did not carry out is given back by one adjustment under the same key.
ALTER TABLE "ledger_entries" ADD COLUMN "refund_key" TEXT;
CREATE UNIQUE INDEX "ledger_entries_refund_key" ON "ledger_entries"("kind", "refund_key") WHERE "refund_key" IS NOT NULL;
CREATE INDEX "ledger_entries_payment_intent_id_idx" ON "ledger_entries"("payment_intent_id") WHERE "payment_intent_id" IS NOT NULL;
