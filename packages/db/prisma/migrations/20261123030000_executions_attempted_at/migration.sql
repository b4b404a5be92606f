-- When the current attempt of an execution started: a retry with the same idempotency key may take over
-- a running execution whose attempt is older than the engine's stale limit (its process died).

-- AlterTable
ALTER TABLE "executions" ADD COLUMN "attempted_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP;
