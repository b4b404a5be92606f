-- Signed webhooks for asynchronous runs (issue 13, item 4): the caller's webhook kept with the run,
-- a durable outbox of deliveries written in the same statement as the state change they announce,
-- and every attempt to deliver one.

-- AlterTable: where and which events (`start`, `completed`) the run's deliveries go to
ALTER TABLE "executions" ADD COLUMN "webhook_url" TEXT;
ALTER TABLE "executions" ADD COLUMN "webhook_events" TEXT[];

-- CreateTable: one row per event of a run, pending until delivered, failed (retries spent) or
-- refused (the receiver resolved to a forbidden address). The body is frozen (as text, byte for
-- byte) at the first attempt so every retry sends the same signed message. No foreign key to
-- executions, like settlements: the executions log has none.
CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "execution_id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "body" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "finished_at" TIMESTAMPTZ(6),

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_deliveries_event_check" CHECK ("event" IN ('start', 'completed')),
    CONSTRAINT "webhook_deliveries_status_check" CHECK ("status" IN ('pending', 'delivered', 'failed', 'refused'))
);

-- CreateTable: each attempt (its time, the receiver's status code or the error, how long it took)
CREATE TABLE "webhook_attempts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "delivery_id" UUID NOT NULL,
    "attempted_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "outcome" TEXT NOT NULL,
    "status_code" INTEGER,
    "error" TEXT,
    "duration_ms" INTEGER NOT NULL,

    CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_attempts_outcome_check" CHECK ("outcome" IN ('delivered', 'failed', 'refused'))
);

-- CreateIndex: one delivery per event of a run (a repeated transition writes nothing)
CREATE UNIQUE INDEX "webhook_deliveries_execution_id_event_key" ON "webhook_deliveries"("execution_id", "event");

-- CreateIndex: the sweep reads the pending ones, oldest first
CREATE INDEX "webhook_deliveries_status_created_at_idx" ON "webhook_deliveries"("status", "created_at");

-- CreateIndex
CREATE INDEX "webhook_attempts_delivery_id_attempted_at_idx" ON "webhook_attempts"("delivery_id", "attempted_at");

-- AddForeignKey
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;
