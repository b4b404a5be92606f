import { AppError, type ErrorBody, type ExecuteOutput } from "@spell/contracts";
import type { EngineContext } from "../context.ts";
import type { BeginOptions, NewExecution, StoredExecution } from "../ports.ts";

/** How `begin` went: run this execution (maybe under a taken-over id), or answer as a duplicate did. */
export type Begun = { run: NewExecution } | { answer: ExecuteOutput };

/**
 * Writes the execution row before any money moves. A repeat of a key either replays the first
 * answer (waiting for it if it is still running) or, for a charge that failed for a passing reason
 * or an attempt abandoned by a crashed process, takes the execution over under the same id — so the
 * payment provider sees the same idempotency key and a second charge is impossible.
 */
export async function beginExecution(
  context: EngineContext,
  execution: NewExecution,
  options?: BeginOptions,
): Promise<Begun> {
  const begun = await context.executions.begin(execution, options);
  if (begun.kind === "started") return { run: execution };
  const existing = begun.execution;
  const takeover =
    existing.requestHash === execution.requestHash &&
    (isRetryableFailure(existing) || existing.status === "running") &&
    (await context.executions.reopenForRetry(existing.id, context.staleRunningMs));
  if (!takeover) return { answer: await answerExisting(context, existing, execution.requestHash) };
  return { run: { ...execution, id: existing.id } };
}

/** A charge that failed because the provider could not be reached; nothing was taken or run. */
function isRetryableFailure(execution: StoredExecution): boolean {
  const outcome = execution.outcome;
  return (
    execution.status === "failed" && outcome?.kind === "failed" && outcome.error.details.retryable === true
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for a concurrent duplicate (same user and idempotency key) to finish, then answers as it did. */
export async function answerExisting(
  context: EngineContext,
  existing: StoredExecution,
  requestHash: string,
): Promise<ExecuteOutput> {
  if (existing.requestHash !== requestHash) {
    throw new AppError(
      "IDEMPOTENCY_CONFLICT",
      "This idempotency key was already used with a different spell or input",
      { executionId: existing.id },
    );
  }
  const { clock, duplicateWaiters } = context;
  if (!isUnderWay(existing) && !isSettling(existing)) return answerFromOutcome(existing);
  // Waiting costs a timer and a few polls, not the request's body: but every waiter is a held
  // request, so their number per process is bounded and the rest are told to come back.
  if (duplicateWaiters.active >= duplicateWaiters.max) throw inProgress(existing.id, "too_many_waiting");
  duplicateWaiters.active += 1;
  let current: StoredExecution | null = existing;
  try {
    // A duplicate that arrives while the capture is under way waits for it only briefly: a replay
    // long after, of a capture the worker still owes, must not hang on it (it answers `pending`).
    const deadline =
      clock.monotonicMs() +
      (isUnderWay(existing) ? context.duplicateWaitMs : Math.min(context.duplicateWaitMs, SETTLING_WAIT_MS));
    // Exponential backoff capped at 1 s: a minute's wait is about 70 reads, not hundreds.
    let delay = 10;
    while (current && (isUnderWay(current) || isSettling(current)) && clock.monotonicMs() < deadline) {
      await sleep(Math.min(delay, Math.max(1, deadline - clock.monotonicMs())));
      delay = Math.min(delay * 2, 1_000);
      current = await context.executions.get(existing.id);
    }
  } finally {
    duplicateWaiters.active -= 1;
  }
  if (!current || isUnderWay(current) || !current.outcome) throw inProgress(existing.id, "in_progress");
  return answerFromOutcome(current);
}

/** Running, or queued for a worker (an asynchronous execution, issue 13): no answer yet. */
function isUnderWay(execution: StoredExecution): boolean {
  return execution.status === "running" || execution.status === "queued";
}

/**
 * Stored, with its capture under way in the first request: a duplicate waits for the capture's
 * answer (bounded like any wait) so it can tell the caller `charged` as the first one does; past
 * the wait it answers `pending`, which is true too.
 */
const SETTLING_WAIT_MS = 3_000;

function isSettling(execution: StoredExecution | null): boolean {
  return execution?.outcome?.kind === "succeeded" && execution.outcome.billing.pending === true;
}

/** 409 for a duplicate whose first request has not finished: the same key may be retried later. */
function inProgress(executionId: string, reason: "in_progress" | "too_many_waiting"): AppError {
  return new AppError("IDEMPOTENCY_CONFLICT", "A request with this idempotency key is still in progress", {
    executionId,
    reason,
    retryable: true,
    retryAfterSeconds: 1,
  });
}

function answerFromOutcome(execution: StoredExecution): ExecuteOutput {
  const outcome = execution.outcome;
  if (!outcome) throw new AppError("INTERNAL_ERROR", "Internal error");
  if (outcome.kind === "failed") {
    throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
  }
  return {
    ok: true,
    executionId: execution.id,
    spell: outcome.spell,
    output: outcome.output,
    billing: outcome.billing,
    durationMs: outcome.durationMs,
  };
}

/** The stored form of an error: what a replay answers. */
export function errorOf(error: AppError): ErrorBody["error"] {
  return { code: error.code, message: error.message, details: error.details };
}
