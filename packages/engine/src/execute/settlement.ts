import { AppError, type ExecuteOutput, type JsonObject, toAppError } from "@spell/contracts";
import type { EngineContext } from "../context.ts";
import type { BillingSummary, Charge, NewExecution, SpellRecord, StoredOutcome } from "../ports.ts";
import { runtimeLogOf } from "../runtime-log.ts";
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
}

/** Runs the artifact after payment; settles the money by the outcome and logs the execution once. */
export async function runAndSettle(context: EngineContext, paid: PaidRun): Promise<ExecuteOutput> {
  const { execution, spell, input, charge } = paid;
  const { billing, clock, executions } = context;
  const runtime = context.runtimes.get(spell.runtime);
  const store = (outcome: StoredOutcome, log: string | null) =>
    paid.loggedAtStart
      ? executions.finish(execution.id, outcome, clock.now(), log)
      : executions.record(execution, outcome, clock.now(), log);
  let output: unknown;
  let log: string | null = null;
  try {
    if (!runtime) {
      throw new AppError("RUNTIME_ERROR", `The ${spell.runtime} runtime is not enabled on this server`, {
        runtime: spell.runtime,
      });
    }
    const result = await runtime.run({ executionId: execution.id, spell, input });
    output = result.output;
    log = result.log ?? null;
  } catch (thrown) {
    const error = toAppError(thrown);
    if (charge) {
      // If the provider cannot be reached to release the money now, the caller still learns why the
      // run failed; an authorization that is never captured lapses by itself.
      const settled = await billing.settle(charge, "failed").then(
        ({ refunded }) => ({ refunded, settlementPending: false }),
        () => ({ refunded: false, settlementPending: true }),
      );
      error.details.billing = {
        charged: false,
        ...settled,
        amount: charge.amount,
        currency: charge.currency,
        billingRecordId: charge.billingRecordId,
      };
    }
    await store({ kind: "failed", error: errorOf(error) }, runtimeLogOf(thrown));
    throw error;
  }
  // The run happened on an authorized payment. If the capture cannot be made now, the authorization
  // lapses uncaptured: the caller still gets the output and is told they were not charged.
  const captured = charge
    ? await billing.settle(charge, "succeeded").then(
        () => true,
        () => false,
      )
    : false;
  const summary: BillingSummary = charge
    ? {
        charged: captured,
        amount: charge.amount,
        currency: charge.currency,
        billingRecordId: charge.billingRecordId,
      }
    : { charged: false, amount: 0, currency: execution.price.currency, billingRecordId: null };
  const durationMs = Math.max(0, Math.round(clock.monotonicMs() - paid.startedAt));
  const result: ExecuteOutput = {
    ok: true,
    executionId: execution.id,
    spell: { slug: spell.slug, runtime: spell.runtime },
    output,
    billing: summary,
    durationMs,
  };
  // Only rows written before the run can be answered again (a repeated key, a second confirm-intent),
  // so only they keep the output, which may be megabytes.
  const storedOutput = paid.loggedAtStart ? output : null;
  await store(
    { kind: "succeeded", spell: result.spell, output: storedOutput, billing: summary, durationMs },
    log,
  );
  return result;
}
