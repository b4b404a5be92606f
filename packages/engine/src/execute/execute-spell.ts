import { randomUUID } from "node:crypto";
import {
  AppError,
  type ExecuteOutput,
  type JsonObject,
  type TokenSpendCap,
  toAppError,
} from "@spell/contracts";
import { assertNotBanned } from "../access.ts";
import { assertInputMatchesSchema, type EngineContext } from "../context.ts";
import type { ExecuteRequest } from "../engine-types.ts";
import type { Charge, ChargeRequest, NewExecution, SpellRecord, UserRecord } from "../ports.ts";
import type { RateLimitState } from "../spend-limits/ports.ts";
import { assertCanRun } from "../visibility.ts";
import { beginExecution, errorOf } from "./idempotency.ts";
import { hashExecutionRequest } from "./request-hash.ts";
import { runAndSettle } from "./settlement.ts";

/** The whole pipeline: token → ban → spell → visibility → price → (idempotency) → charge → run → JSON. */
export async function executeSpell(
  context: EngineContext,
  authorization: string | undefined,
  request: ExecuteRequest,
): Promise<ExecuteOutput> {
  const startedAt = context.clock.monotonicMs();
  const { user, spell, execution: planned, maxSpend } = await admitExecution(context, authorization, request);
  let execution = planned;
  // A free execution without a key needs no row before it runs: one write after, fewer round trips.
  const loggedAtStart = execution.idempotencyKey !== null || execution.price.amount > 0;
  const paying = { user, spell, request, maxSpend };
  if (loggedAtStart && execution.idempotencyKey === null) {
    // 6. charge, with the row in the same write when the adapter can (a prepaid reserve).
    const charge = await chargeAtBegin(context, { ...paying, execution });
    if (charge) {
      return runAndSettle(context, {
        execution,
        spell,
        input: request.input,
        charge,
        loggedAtStart,
        startedAt,
      });
    }
  }
  if (loggedAtStart) {
    // Without a key the row is only this request's: its begin need not wait for a durable write,
    // the billing record or the finish after it does (BeginOptions.asynchronousCommit).
    const begun = await beginExecution(context, execution, {
      asynchronousCommit: execution.idempotencyKey === null,
    });
    if ("answer" in begun) return begun.answer;
    execution = begun.run;
  }
  // 6. charge
  const charge = await chargeExecution(context, { ...paying, execution });
  // 7. run, 8. settle and answer JSON
  return runAndSettle(context, { execution, spell, input: request.input, charge, loggedAtStart, startedAt });
}

function rateLimited(limit: RateLimitState): AppError {
  return new AppError("RATE_LIMITED", `Too many executions for this ${limit.policy}; retry later`, {
    policy: limit.policy,
    limit: limit.limit,
    windowSeconds: limit.windowSeconds,
    retryAfterSeconds: Math.max(1, Math.ceil(limit.resetMs / 1000)),
  });
}

/** Steps 1–5 of the pipeline: who calls, whether they may run the spell, and at what price. */
export async function admitExecution(
  context: EngineContext,
  authorization: string | undefined,
  request: ExecuteRequest,
): Promise<{
  user: UserRecord;
  spell: SpellRecord;
  execution: NewExecution;
  /** The caller's token cap (`spell:max_spend`), for the charge. */
  maxSpend: TokenSpendCap | undefined;
}> {
  // 1. token
  const caller = await context.authenticate(authorization);
  // One read for the caller and (only if not banned) the spell; the steps below decide in order.
  const { user, lookup } = await context.users.ensureUserWithSpell(caller.userId, request.spell);
  // 2. ban
  assertNotBanned(user);
  // 3. spell
  if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${request.spell}`, { spell: request.spell });
  // 4. visibility
  assertCanRun(lookup, user.id);
  const { spell } = lookup;
  // Rate limits per user and per spell: here, where the spell is known, for every transport.
  const limit = await context.billing.rateLimits?.consume(user.id, spell.slug);
  if (limit) {
    if (request.notes) request.notes.rateLimit = limit;
    if (limit.refused) throw rateLimited(limit);
  }
  // The spell's input schema (compiled once per artifact version), before any row, charge or run.
  assertInputMatchesSchema(context, spell, request.input);
  // 5. price
  const price = context.billing.quote(spell, user);
  const idempotencyKey = request.idempotencyKey ?? null;
  const execution: NewExecution = {
    id: randomUUID(),
    userId: user.id,
    spellId: spell.id,
    slug: spell.slug,
    runtime: spell.runtime,
    price,
    idempotencyKey,
    requestHash: idempotencyKey === null ? "" : hashExecutionRequest(spell.slug, request.input),
  };
  return { user, spell, execution, maxSpend: caller.maxSpend };
}

type PayingRun = Parameters<typeof chargeExecution>[1];

function chargeRequestOf(run: PayingRun): ChargeRequest {
  return {
    executionId: run.execution.id,
    user: run.user,
    spell: run.spell,
    price: run.execution.price,
    maxCost: run.request.maxCost,
    maxSpend: run.maxSpend,
  };
}

/**
 * Step 6 for a priced execution without a key, when the adapter writes the row with the charge
 * (`Billing.chargeAtBegin`); null when it does not, and `begin` + `chargeExecution` follow. A
 * refusal wrote nothing: the execution is logged finished with its error (what a refused charge
 * leaves after a begin), off the durable path since no money moved.
 */
async function chargeAtBegin(context: EngineContext, run: PayingRun): Promise<Charge | null> {
  const { billing, executions, clock } = context;
  if (!billing.chargeAtBegin || run.execution.price.amount <= 0) return null;
  try {
    return await billing.chargeAtBegin(chargeRequestOf(run), run.execution);
  } catch (thrown) {
    const error = toAppError(thrown);
    if (error.code === "SERVICE_UNAVAILABLE") error.details.retryable = true;
    // The database may be what failed (the row then stays unwritten, or was written and the
    // reserve sweep releases it): the refusal is still the answer.
    await executions
      .record(run.execution, { kind: "failed", error: errorOf(error) }, clock.now(), null)
      .catch(() => {});
    throw error;
  }
}

/**
 * Step 6: takes the money of a priced spell (null for a free one). A refusal finishes the row with
 * its error (or keeps it `pending_payment` with its input when the customer must act) and is thrown.
 */
export async function chargeExecution(
  context: EngineContext,
  run: {
    execution: NewExecution;
    user: UserRecord;
    spell: SpellRecord;
    request: { input: JsonObject; maxCost?: number | undefined };
    /** The caller's token cap (`spell:max_spend`), when its token has one. */
    maxSpend?: TokenSpendCap | undefined;
  },
): Promise<Charge | null> {
  const { execution, request } = run;
  if (execution.price.amount <= 0) return null;
  try {
    return await context.billing.charge(chargeRequestOf(run));
  } catch (thrown) {
    const error = toAppError(thrown);
    // The provider was unreachable: a retry with the same key may try again (see beginExecution).
    if (error.code === "SERVICE_UNAVAILABLE") error.details.retryable = true;
    await (error.code === "PAYMENT_REQUIRES_ACTION"
      ? context.executions.markPendingPayment(execution.id, { input: request.input, error: errorOf(error) })
      : context.executions.finish(
          execution.id,
          { kind: "failed", error: errorOf(error) },
          context.clock.now(),
        ));
    throw error;
  }
}
