import { AppError, type ExecuteOutput, type JsonObject, toAppError } from "@spell/contracts";
import type { EngineContext } from "../context.ts";
import type {
  BillingSummary,
  Charge,
  NewExecution,
  SettlementOrder,
  SettleResult,
  SpellRecord,
  StoredOutcome,
} from "../ports.ts";
import { runtimeLogOf } from "../runtime-log.ts";
import { finishLater } from "./finish-later.ts";
import { errorOf } from "./idempotency.ts";

export interface PaidRun {
  execution: NewExecution;
  spell: SpellRecord;
  input: JsonObject;
  /** The money taken before the run; null for a free spell. */
  charge: Charge | null;
  /** Whether `begin` wrote the row before the run (a key or a price); otherwise it is written once, after. */
  loggedAtStart: boolean;
  /** `clock.monotonicMs()` when the request arrived. */
  startedAt: number;
  /**
   * Aborted when the run is canceled (asynchronous runs only): the runtime stops its work. The
   * synchronous path passes none, so a client that disconnects never stops a paid run.
   */
  signal?: AbortSignal;
}

/**
 * Runs the artifact after payment, then settles in this order: store the answer together with its
 * pending capture (one atomic write), capture, answer. An answer that cannot be stored is never
 * captured: the authorization is released (now, or by the settlement worker) and the caller told so.
 */
export async function runAndSettle(context: EngineContext, paid: PaidRun): Promise<ExecuteOutput> {
  const { execution, spell, input, charge } = paid;
  const { billing, clock, executions } = context;
  const runtime = context.runtimes.get(spell.runtime);
  // The charge `settle` gets: marked when the finish already settled it (a prepaid reserve's debit
  // or release in the outcome's own statement), so the adapter sends nothing more.
  let settling: Charge | null = charge;
  const store = async (outcome: StoredOutcome, log: string | null, settlement: SettlementOrder | null) => {
    if (!paid.loggedAtStart) return executions.record(execution, outcome, clock.now(), log);
    const finished = await executions.finish(execution.id, outcome, clock.now(), log, settlement);
    if (settlement && finished?.settled) settling = { ...settlement.charge, settledByFinish: true };
  };
  let output: unknown;
  let log: string | null = null;
  try {
    if (!runtime) {
      throw new AppError("RUNTIME_ERROR", `The ${spell.runtime} runtime is not enabled on this server`, {
        runtime: spell.runtime,
      });
    }
    const result = await runtime.run({
      executionId: execution.id,
      spell,
      input,
      callerId: execution.userId,
      ...(paid.signal ? { signal: paid.signal } : {}),
    });
    output = result.output;
    log = result.log ?? null;
  } catch (thrown) {
    const error = toAppError(thrown);
    if (!charge) {
      await store({ kind: "failed", error: errorOf(error) }, runtimeLogOf(thrown), null);
      throw error;
    }
    // Stored first with the cancel as pending work, so the release survives a crash right after.
    const billingDetails = {
      charged: false,
      status: "not_charged" as const,
      refunded: false,
      settlementPending: true,
      amount: charge.amount,
      currency: charge.currency,
      billingRecordId: charge.billingRecordId,
    };
    error.details.billing = billingDetails;
    const cancel: SettlementOrder = { action: "cancel", charge };
    try {
      await store({ kind: "failed", error: errorOf(error) }, runtimeLogOf(thrown), cancel);
    } catch {
      // The database is gone: the run's error is still the answer; the row is finished later.
      finishLater(context, execution.id, { kind: "failed", error: errorOf(error) }, cancel);
    }
    const settled = await settleSafely(billing, settling ?? charge, "failed");
    error.details.billing = {
      ...billingDetails,
      refunded: settled.refunded,
      settlementPending: settled.status === "pending",
    };
    throw error;
  }

  const durationMs = Math.max(0, Math.round(clock.monotonicMs() - paid.startedAt));
  const answered = { slug: spell.slug, runtime: spell.runtime };
  const pendingSummary: BillingSummary = charge
    ? {
        charged: false,
        status: "pending",
        pending: true,
        amount: charge.amount,
        currency: charge.currency,
        billingRecordId: charge.billingRecordId,
      }
    : {
        charged: false,
        status: "not_charged",
        amount: 0,
        currency: execution.price.currency,
        billingRecordId: null,
      };
  // Only rows written before the run can be answered again (a repeated key, a second confirm-intent),
  // so only they keep the output, which may be megabytes.
  const storedOutput = paid.loggedAtStart ? output : null;
  try {
    await store(
      { kind: "succeeded", spell: answered, output: storedOutput, billing: pendingSummary, durationMs },
      log,
      charge ? { action: "capture", charge } : null,
    );
  } catch (thrown) {
    const released = charge ? await settleSafely(billing, charge, "failed") : null;
    if (charge && released?.status === "charged") {
      // Only a stored success is ever debited or captured: the write committed and only its reply
      // was lost, so the paid answer is delivered (and nothing may store a failure over it).
      const charged: BillingSummary = {
        charged: true,
        status: "charged",
        amount: charge.amount,
        currency: charge.currency,
        billingRecordId: charge.billingRecordId,
      };
      return { ok: true, executionId: execution.id, spell: answered, output, billing: charged, durationMs };
    }
    throw answerNotStored(context, paid, thrown, released);
  }
  let summary = pendingSummary;
  if (charge) {
    // The answer and its pending capture are durable: capture now (the usual case) or leave it to
    // the settlement worker, which retries until Stripe confirms.
    const settled = await settleSafely(billing, settling ?? charge, "succeeded");
    summary =
      settled.status === "pending"
        ? pendingSummary
        : {
            charged: settled.status === "charged",
            status: settled.status,
            amount: charge.amount,
            currency: charge.currency,
            billingRecordId: charge.billingRecordId,
          };
  }
  return { ok: true, executionId: execution.id, spell: answered, output, billing: summary, durationMs };
}

/**
 * The run succeeded but its answer could not be stored (the database went away): no capture may
 * follow. The authorization was released (`settled`, by the caller); the terminal outcome (with the
 * cancel as pending work) is stored as soon as the database is back.
 */
function answerNotStored(
  context: EngineContext,
  paid: PaidRun,
  thrown: unknown,
  settled: SettleResult | null,
): AppError {
  const { charge, execution } = paid;
  const error = new AppError(
    "SERVICE_UNAVAILABLE",
    charge
      ? "The result could not be stored, so it was not delivered; you were not charged"
      : "The result could not be stored, so it was not delivered",
    {
      reason: "result_not_stored",
      executionId: execution.id,
      ...(charge
        ? {
            billing: {
              charged: false,
              status: "not_charged",
              refunded: settled?.refunded ?? false,
              settlementPending: settled?.status === "pending",
              amount: charge.amount,
              currency: charge.currency,
              billingRecordId: charge.billingRecordId,
            },
          }
        : {}),
    },
    { cause: thrown },
  );
  if (paid.loggedAtStart) {
    finishLater(
      context,
      execution.id,
      { kind: "failed", error: errorOf(error) },
      charge ? { action: "cancel", charge } : null,
    );
  }
  return error;
}

/** `Billing.settle` promises not to throw; a broken adapter must still not turn an answer into a 500. */
function settleSafely(
  billing: EngineContext["billing"],
  charge: Charge,
  outcome: "succeeded" | "failed",
): Promise<SettleResult> {
  return billing.settle(charge, outcome).catch((): SettleResult => ({ status: "pending", refunded: false }));
}
