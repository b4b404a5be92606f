import {
  AppError,
  type ErrorBody,
  type ExecuteAccepted,
  type ExecuteOutput,
  type ExecutionView,
  executionLocation,
  type ListExecutionsOutput,
  type Price,
  toAppError,
} from "@spell/contracts";
import { assertNotBanned } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { ExecuteRequest, Session } from "../engine-types.ts";
import { admitExecution, chargeExecution } from "../execute/execute-spell.ts";
import { answerExisting, errorOf } from "../execute/idempotency.ts";
import { runAndSettle } from "../execute/settlement.ts";
import type { AsyncExecutionStore, Charge, ExecutionRecord, RunQueue, StoredOutcome } from "../ports.ts";

/** How the caller asked for an asynchronous execution (`Prefer`, `Cancel-After`). */
export interface AsyncOptions {
  /** `Prefer: wait=N` in ms; 0 for `respond-async` (answer 202 at once). */
  waitMs: number;
  /** `Cancel-After` in ms: a run not started by then is aborted and never charged. */
  cancelAfterMs?: number | undefined;
}

/** The run worker's settings for one run; defaults come from the engine. */
export interface RunQueuedOptions {
  /** A claimed row older than this, met again by a retried job, is failed `interrupted` (default: the engine's `staleRunningMs`). */
  staleRunningMs?: number;
  /** How often a running run's row is read to learn of a cancel made by any process (default 250 ms). */
  cancelPollMs?: number;
}

const DEFAULT_CANCEL_POLL_MS = 250;

/**
 * Aborts the returned signal when the row stops being `running` (a cancel served by any API
 * process, or a stale sweep): one indexed read per poll, no change to the store or the schema.
 */
function watchForCancel(
  runs: AsyncExecutionStore,
  execution: { id: string; userId: string },
  pollMs: number,
): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(poll, pollMs);
    // A poll must never keep a stopping process alive.
    timer.unref?.();
  };
  const poll = async () => {
    try {
      const row = await runs.getOwned(execution.id, execution.userId);
      if (!stopped && row && row.status !== "running") {
        controller.abort(
          new AppError("EXECUTION_CANCELED", "The execution was canceled while it ran", {
            reason: "canceled",
          }),
        );
        return;
      }
    } catch {
      // A failed read is tried again at the next poll: the finish is conditional on `running` anyway.
    }
    schedule();
  };
  schedule();
  return {
    signal: controller.signal,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Asynchronous executions (issue 13): execute with a queue, the worker's run, the owner's reads and cancel. */
export interface ExecutionOperations {
  /** Whether runs can be queued (a job engine is configured); false on the embedded database. */
  readonly available: boolean;
  /**
   * The pipeline up to the charge in the request (a refusal is answered as on execute), then the
   * run is queued; answers the result when it finishes within `waitMs`, else the accepted execution.
   */
  executeAsync(
    authorization: string | undefined,
    request: ExecuteRequest,
    options: AsyncOptions,
  ): Promise<ExecuteOutput | ExecuteAccepted>;
  /**
   * The worker's entry point: runs a queued execution once (a claimed row), settles, stores. While
   * it runs, its row is read every `cancelPollMs`: once another process canceled it, the runtime's
   * signal aborts (the sandbox is killed, the upstream request aborted) and the money is released.
   */
  runQueued(executionId: string, options?: RunQueuedOptions): Promise<void>;
  get(session: Session, input: { id: string }): Promise<{ ok: true; execution: ExecutionView }>;
  list(
    session: Session,
    input: { cursor?: string; limit?: number } | undefined,
  ): Promise<ListExecutionsOutput>;
  cancel(session: Session, input: { id: string }): Promise<{ ok: true; execution: ExecutionView }>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

function notConfigured(): AppError {
  return new AppError(
    "SERVICE_UNAVAILABLE",
    "Asynchronous executions need the job engine (a PostgreSQL server); call without a Prefer header",
    { reason: "async_unavailable" },
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A canceled run's answer; `price` (when known) is what was authorized and released. */
function canceledOutcome(reason: "canceled" | "deadline", price?: Price): StoredOutcome {
  const error: ErrorBody["error"] = {
    code: "EXECUTION_CANCELED",
    message:
      reason === "deadline"
        ? "The execution did not start before its Cancel-After deadline; you were not charged"
        : "The execution was canceled; you were not charged",
    details: {
      reason,
      ...(price
        ? {
            billing: {
              charged: false,
              status: "not_charged",
              amount: price.amount,
              currency: price.currency,
              billingRecordId: null,
            },
          }
        : {}),
    },
  };
  return { kind: "failed", error };
}

export function viewOf(record: ExecutionRecord): ExecutionView {
  const outcome = record.outcome;
  const finished = TERMINAL.has(record.status);
  return {
    executionId: record.id,
    status: record.status,
    spell: outcome?.kind === "succeeded" ? outcome.spell : { slug: record.slug, runtime: record.runtime },
    // Runtime outputs are JSON by construction (checked by the runtimes before they are stored).
    output: finished && outcome?.kind === "succeeded" ? (outcome.output as ExecutionView["output"]) : null,
    billing:
      finished && outcome?.kind === "succeeded"
        ? outcome.billing
        : finished && outcome?.kind === "failed"
          ? ((outcome.error.details.billing as ExecutionView["billing"] | undefined) ?? {
              charged: false,
              status: "not_charged",
              amount: 0,
              currency: record.price.currency,
              billingRecordId: null,
            })
          : null,
    error: finished && outcome?.kind === "failed" ? outcome.error : null,
    durationMs: finished && outcome?.kind === "succeeded" ? outcome.durationMs : null,
    createdAt: record.createdAt.toISOString(),
    finishedAt: record.finishedAt?.toISOString() ?? null,
  };
}

function answerOf(record: ExecutionRecord): ExecuteOutput {
  const outcome = record.outcome;
  if (outcome?.kind === "succeeded") {
    return {
      ok: true,
      executionId: record.id,
      spell: outcome.spell,
      output: outcome.output,
      billing: outcome.billing,
      durationMs: outcome.durationMs,
    };
  }
  if (outcome?.kind === "failed")
    throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
  throw new AppError("INTERNAL_ERROR", "Internal error");
}

function encodeCursor(record: ExecutionRecord): string {
  return Buffer.from(`${record.createdAt.toISOString()}|${record.id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || !UUID.test(id) || Number.isNaN(createdAt.getTime())) {
    throw new AppError("VALIDATION_ERROR", "Invalid cursor", {
      issues: [{ path: ["cursor"], message: "not a cursor this API returned", code: "custom" }],
    });
  }
  return { createdAt, id };
}

export function createExecutionOperations(
  context: EngineContext,
  store: AsyncExecutionStore | null,
  queue: RunQueue | null,
): ExecutionOperations {
  const requireStore = (): AsyncExecutionStore => {
    if (!store) throw notConfigured();
    return store;
  };

  async function release(charge: Charge | null): Promise<void> {
    if (charge) await context.billing.settle(charge, "failed").catch(() => {});
  }

  async function owned(session: Session, id: string): Promise<ExecutionRecord> {
    assertNotBanned(session.user);
    const record = await requireStore().getOwned(id, session.user.id);
    if (!record) throw new AppError("NOT_FOUND", "No such execution", { executionId: id });
    return record;
  }

  return {
    available: store !== null && queue !== null,
    async executeAsync(authorization, request, options) {
      // Refused before anything is written: no queue, no asynchronous execution.
      if (!store || !queue) throw notConfigured();
      const { user, spell, execution, maxSpend } = await admitExecution(context, authorization, request);
      const accepted = (id: string, status: "queued" | "running"): ExecuteAccepted => ({
        ok: true,
        executionId: id,
        status,
        spell: { slug: spell.slug, runtime: spell.runtime },
        location: executionLocation(id),
      });
      const begun = await context.executions.begin(execution);
      if (begun.kind === "existing") {
        const existing = begun.execution;
        // A repeat of a key whose run is queued or running answers the same accepted execution.
        if (
          existing.requestHash === execution.requestHash &&
          (existing.status === "queued" || existing.status === "running")
        ) {
          return accepted(existing.id, existing.status);
        }
        return answerExisting(context, existing, execution.requestHash);
      }
      const charge = await chargeExecution(context, { execution, user, spell, request, maxSpend });
      const cancelAfter =
        options.cancelAfterMs === undefined
          ? null
          : new Date(context.clock.now().getTime() + options.cancelAfterMs);
      try {
        await store.queue(execution.id, {
          input: request.input,
          charge,
          cancelAfter,
          webhook: request.webhook ?? null,
        });
        await queue.enqueue(execution.id);
      } catch (thrown) {
        // Not queued: the run will not happen, so the money goes back now (or by the orphan sweep).
        const finishedAt = context.clock.now();
        const canceled = await store
          .cancelQueued(execution.id, { outcome: canceledOutcome("canceled", execution.price), finishedAt })
          .catch(() => null);
        if (!canceled?.canceled) {
          await context.executions
            .finish(execution.id, { kind: "failed", error: errorOf(toAppError(thrown)) }, finishedAt)
            .catch(() => {});
        }
        await release(charge);
        throw new AppError(
          "SERVICE_UNAVAILABLE",
          "The execution could not be queued; you were not charged",
          {
            reason: "not_queued",
            retryable: true,
          },
          { cause: thrown },
        );
      }
      if (options.waitMs <= 0) return accepted(execution.id, "queued");
      const deadline = context.clock.monotonicMs() + options.waitMs;
      let delay = 10;
      let status: "queued" | "running" = "queued";
      while (context.clock.monotonicMs() < deadline) {
        await sleep(Math.min(delay, Math.max(1, deadline - context.clock.monotonicMs())));
        delay = Math.min(delay * 2, 250);
        const record = await store.getOwned(execution.id, user.id);
        if (!record) break;
        if (TERMINAL.has(record.status)) return answerOf(record);
        if (record.status === "running") status = "running";
      }
      return accepted(execution.id, status);
    },

    async runQueued(executionId, options = {}) {
      const runs = requireStore();
      const startedAt = context.clock.monotonicMs();
      const claimed = await runs.claim(executionId);
      if (!claimed) {
        // Past its deadline before any worker started it: aborted, never charged.
        const expired = await runs.cancelQueued(executionId, {
          onlyExpired: true,
          outcome: canceledOutcome("deadline"),
          finishedAt: context.clock.now(),
        });
        if (expired.canceled) {
          await release(expired.charge);
          return;
        }
        // A retried job of a run whose worker died mid-run: it is never run again; once stale it
        // fails and its money is released (before that, the live worker may still finish it).
        const stale = await runs.failStale(
          executionId,
          options.staleRunningMs ?? context.staleRunningMs,
          {
            kind: "failed",
            error: {
              code: "RUNTIME_ERROR",
              message: "The run was interrupted (its worker stopped); you were not charged",
              details: { reason: "interrupted" },
            },
          },
          context.clock.now(),
        );
        if (stale.failed) await release(stale.charge);
        return;
      }
      const { execution, input, charge } = claimed;
      // The worker's finish holds to the row's state: a run canceled meanwhile is released, not captured.
      const executions = {
        ...context.executions,
        finish: async (...args: Parameters<EngineContext["executions"]["finish"]>) => {
          const [id, outcome, finishedAt, log, settlement] = args;
          const finished = await runs.finishRun(id, outcome, finishedAt, log ?? null, settlement ?? null);
          if (!finished && outcome.kind === "succeeded") {
            throw new AppError("EXECUTION_CANCELED", "The execution was canceled while it ran", {
              reason: "canceled",
            });
          }
        },
      };
      const runContext: EngineContext = { ...context, executions };
      const lookup = await context.spells.findBySlug(execution.slug, execution.userId);
      const watch = watchForCancel(runs, execution, options.cancelPollMs ?? DEFAULT_CANCEL_POLL_MS);
      try {
        if (!lookup || lookup.spell.id !== execution.spellId || lookup.spell.disabled) {
          throw new AppError("SPELL_NOT_FOUND", `No spell ${execution.slug}`, { spell: execution.slug });
        }
        await runAndSettle(runContext, {
          execution,
          spell: lookup.spell,
          input,
          charge,
          loggedAtStart: true,
          startedAt,
          signal: watch.signal,
        });
      } catch (thrown) {
        if (!lookup || lookup.spell.id !== execution.spellId || lookup.spell.disabled) {
          // Nothing ran: the error is the answer and the money goes back.
          const error = toAppError(thrown);
          await executions.finish(
            execution.id,
            { kind: "failed", error: errorOf(error) },
            context.clock.now(),
            null,
            charge ? { action: "cancel", charge } : null,
          );
          await release(charge);
        }
        // Otherwise the run's failure is stored (and its money released) by runAndSettle.
      } finally {
        watch.stop();
      }
    },

    async get(session, input) {
      return { ok: true, execution: viewOf(await owned(session, input.id)) };
    },

    async list(session, input) {
      assertNotBanned(session.user);
      const limit = input?.limit ?? 50;
      const before = input?.cursor === undefined ? undefined : decodeCursor(input.cursor);
      const rows = await requireStore().listOwned(session.user.id, {
        ...(before ? { before } : {}),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        ok: true,
        executions: page.map((record) => {
          const { output: _output, ...summary } = viewOf(record);
          return summary;
        }),
        nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
      };
    },

    async cancel(session, input) {
      const record = await owned(session, input.id);
      const runs = requireStore();
      const finishedAt = context.clock.now();
      if (record.status === "queued") {
        const canceled = await runs.cancelQueued(record.id, {
          userId: session.user.id,
          outcome: canceledOutcome("canceled", record.price),
          finishedAt,
        });
        if (canceled.canceled) await release(canceled.charge);
      } else if (record.status === "running") {
        await runs.cancelRunning(
          record.id,
          session.user.id,
          canceledOutcome("canceled", record.price),
          finishedAt,
        );
      }
      // Whatever won (the cancel, or a worker that finished first), the row says it.
      return { ok: true, execution: viewOf(await owned(session, record.id)) };
    },
  };
}
