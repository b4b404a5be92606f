import { toAppError } from "@spell/contracts";
import type { EngineContext } from "../context.ts";
import type { SettlementOrder, StoredOutcome } from "../ports.ts";

/**
 * Stores a terminal outcome the database refused a moment ago (an outage), retrying with capped
 * backoff for as long as a `running` row could otherwise be taken over; once stored, the order's
 * money work is attempted again (Stripe's idempotency makes a repeat of a done cancel harmless). So
 * the key reaches its end as soon as the database is back, not after the stale-running limit.
 */
export function finishLater(
  context: EngineContext,
  executionId: string,
  outcome: StoredOutcome,
  settlement: SettlementOrder | null,
): void {
  const { clock, executions, billing } = context;
  const deadline = clock.monotonicMs() + context.staleRunningMs;
  let delay = 250;
  const attempt = () => {
    executions.finish(executionId, outcome, clock.now(), null, settlement).then(
      (finished) => {
        if (!settlement) return;
        // A ledger reserve released by the finish itself: the adapter only answers (no statement).
        const charge = finished?.settled
          ? { ...settlement.charge, settledByFinish: true }
          : settlement.charge;
        void billing.settle(charge, "failed").catch(() => {});
      },
      (error: unknown) => {
        // The row is gone (its asynchronous begin lost by a database crash): nothing to store.
        if (toAppError(error).details.reason === "execution_lost") return;
        if (clock.monotonicMs() >= deadline) return;
        delay = Math.min(delay * 2, 15_000);
        setTimeout(attempt, delay).unref();
      },
    );
  };
  setTimeout(attempt, delay).unref();
}
