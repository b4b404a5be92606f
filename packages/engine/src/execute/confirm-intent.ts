import { AppError, type ExecuteOutput } from "@spell/contracts";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Engine, Session } from "../engine-types.ts";
import { answerExisting } from "./idempotency.ts";
import { runAndSettle } from "./settlement.ts";

/**
 * Completes an execution whose charge needed customer action (3-D Secure): once the payment has
 * succeeded, runs the artifact exactly once, however many confirmations race; later ones replay.
 */
export async function confirmIntent(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["confirmIntent"]>[1],
): Promise<ExecuteOutput> {
  const startedAt = context.clock.monotonicMs();
  admit(session, "user");
  const resumed = await context.billing.resumePayment(session.user, input.paymentIntentId);
  const existing = await context.executions.get(resumed.executionId);
  if (!existing || existing.userId !== session.user.id) {
    throw new AppError("NOT_FOUND", "No pending execution for this payment", {
      paymentIntentId: input.paymentIntentId,
    });
  }
  if (existing.status !== "pending_payment") return answerExisting(context, existing, existing.requestHash);
  if (resumed.status !== "succeeded" || !resumed.charge) {
    throw new AppError(
      resumed.status === "failed" ? "BILLING_FAILED" : "PAYMENT_REQUIRES_ACTION",
      resumed.status === "failed" ? "The payment failed" : "The payment still needs customer action",
      { paymentIntentId: input.paymentIntentId },
    );
  }
  const claimed = await context.executions.claimPendingPayment(existing.id);
  // Another confirmation got here first: wait for its outcome (re-read: the row is now running or
  // finished, no longer the 402 it held while pending) and answer as it does, never run twice.
  if (!claimed) {
    const current = (await context.executions.get(existing.id)) ?? existing;
    return answerExisting(context, current, existing.requestHash);
  }
  const lookup = await context.spells.findBySlug(existing.slug, session.user.id);
  if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${existing.slug}`, { spell: existing.slug });
  const price = { amount: resumed.charge.amount, currency: resumed.charge.currency };
  return runAndSettle(context, {
    execution: {
      id: existing.id,
      userId: session.user.id,
      spellId: existing.spellId,
      slug: existing.slug,
      runtime: lookup.spell.runtime,
      price,
      idempotencyKey: null,
      requestHash: existing.requestHash,
    },
    spell: lookup.spell,
    input: claimed.input,
    charge: resumed.charge,
    loggedAtStart: true,
    startedAt,
  });
}
