-- Settlement as durable pending work: the capture (or cancel, or refund) of an execution's payment is
-- written in the same statement as the execution's outcome, then carried out by the API right away
-- and, when Stripe cannot confirm it then, by the settlement worker (pg-boss) until Stripe does.
-- One row per PaymentIntent, and result is the billing record status Stripe confirmed.

-- CreateTable
CREATE TABLE "settlements" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "execution_id" UUID NOT NULL,
    "billing_record_id" UUID,
    "payment_intent_id" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "result" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "next_attempt_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(6),

    CONSTRAINT "settlements_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "settlements_payment_intent_id_key" ON "settlements"("payment_intent_id");

-- CreateIndex
CREATE INDEX "settlements_execution_id_idx" ON "settlements"("execution_id");

-- CreateIndex
CREATE INDEX "settlements_status_next_attempt_at_idx" ON "settlements"("status", "next_attempt_at");

-- Enum-like text columns (see the init migration).
ALTER TABLE "settlements" ADD CONSTRAINT "settlements_action_check" CHECK ("action" IN ('capture', 'cancel', 'refund'));
ALTER TABLE "settlements" ADD CONSTRAINT "settlements_status_check" CHECK ("status" IN ('pending', 'done', 'failed'));
