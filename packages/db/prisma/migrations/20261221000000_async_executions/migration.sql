-- Asynchronous executions (issue 13): a run queued on the job engine after its charge, its deadline,
-- and the states `queued` (charged or free, waiting for a worker) and `canceled`.

-- AlterTable: the authorization taken before the run was queued (null for a free spell), so the
-- worker settles the same money, and the `Cancel-After` deadline (a run not started by then is
-- aborted and released)
ALTER TABLE "executions" ADD COLUMN "queued_charge" JSONB;
ALTER TABLE "executions" ADD COLUMN "cancel_after" TIMESTAMPTZ(6);

-- AlterTable: the two new states
ALTER TABLE "executions" DROP CONSTRAINT "executions_status_check";
ALTER TABLE "executions" ADD CONSTRAINT "executions_status_check"
  CHECK ("status" IN ('queued', 'running', 'pending_payment', 'succeeded', 'failed', 'canceled'));
