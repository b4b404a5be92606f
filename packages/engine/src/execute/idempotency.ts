import { AppError, type ErrorBody, type ExecuteOutput } from "@spell/contracts";
import type { EngineContext } from "../context.ts";
import type { NewExecution, StoredExecution } from "../ports.ts";

/** How `begin` went: run this execution (maybe under a taken-over id), or answer as a duplicate did. */
export type Begun = { run: NewExecution } | { answer: ExecuteOutput };

/**
 * Writes the execution row before any money moves. A repeat of a key either replays the first
 * answer (waiting for it if it is still running) or, for a charge that failed for a passing reason
 * or an attempt abandoned by a crashed process, takes the execution over under the same id — so the
 * payment provider sees the same idempotency key and a second charge is impossible.
 */
export async function beginExecution(context: EngineContext, execution: NewExecution): Promise<Begun> {
  const begun = await context.executions.begin(execution);
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
  const { clock } = context;
  let current: StoredExecution | null = existing;
  const deadline = clock.monotonicMs() + context.duplicateWaitMs;
  let delay = 5;
  while (current && current.status === "running" && clock.monotonicMs() < deadline) {
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
    current = await context.executions.get(existing.id);
  }
  if (!current || current.status === "running" || !current.outcome) {
    throw new AppError("IDEMPOTENCY_CONFLICT", "A request with this idempotency key is still in progress", {
      executionId: existing.id,
      retryable: true,
    });
  }
  return answerFromOutcome(current);
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
