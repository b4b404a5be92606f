import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PrepaidSimHarness, startPrepaidSimHarness } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * Refunds of prepaid top-ups against the in-repo Stripe simulation: the owner (or an admin) gets
 * the unspent part of a top-up back on the card, once per key, never more than is unspent; a
 * `charge.refunded` webhook (a refund made in Stripe's dashboard) converges the ledger too.
 */
describe.runIf(process.env.DATABASE_URL)("prepaid top-up refunds", () => {
  let s: PrepaidSimHarness;
  beforeAll(async () => {
    s = await startPrepaidSimHarness();
    await s.h.publish(pricedSpell("ten@v1", 10));
  }, 60_000);
  afterAll(() => s?.close());
  afterEach(() => reconcileLedger(s.h.testDb.database, s.sim.state.refunds.values()));

  async function funded(cents: number): Promise<{ user: Caller; paymentIntentId: string }> {
    const user = await s.h.user("refund");
    await s.saveCard(user);
    const topUp = await s.h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: cents, idempotencyKey: randomUUID() },
    });
    expect(topUp.body, JSON.stringify(topUp.body)).toMatchObject({ credited: true });
    return { user, paymentIntentId: topUp.body.paymentIntentId };
  }
  const refund = (token: string, body: Record<string, unknown>) =>
    s.h.call("POST", "/api/billing/top-ups/refund", { token, body });
  const balanceOf = async (user: Caller) =>
    (await s.h.call("GET", "/api/billing/balance", { token: user.token })).body.account.balance;
  const refundsAt = (paymentIntentId: string) =>
    [...s.sim.state.refunds.values()].filter((r) => r.payment_intent === paymentIntentId);

  it("refunds the unspent part once: Stripe refund, ledger refund entry, same answer on a retry", async () => {
    const { user, paymentIntentId } = await funded(100);
    for (let i = 0; i < 3; i++) {
      expect(
        (await s.h.call("POST", "/api/spell/execute", { token: user.token, body: { spell: "ten@v1" } }))
          .status,
      ).toBe(200);
    }
    const key = randomUUID();
    const first = await refund(user.token, { paymentIntentId, idempotencyKey: key });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      ok: true,
      amount: 70,
      status: "succeeded",
      balance: 0,
      userId: user.id,
    });
    const retry = await refund(user.token, { paymentIntentId, idempotencyKey: key });
    expect(retry.body).toMatchObject({ refundId: first.body.refundId, amount: 70 });
    expect(refundsAt(paymentIntentId)).toEqual([
      expect.objectContaining({ amount: 70, status: "succeeded" }),
    ]);
    expect(await balanceOf(user)).toBe(0);
    const history = await s.h.call("GET", "/api/billing/history", { token: user.token });
    expect(history.body.entries[0]).toMatchObject({ kind: "refund", amount: -700_000, paymentIntentId });
    // Nothing unspent is left: a further refund is refused, nothing sent to Stripe.
    const more = await refund(user.token, { paymentIntentId, idempotencyKey: randomUUID() });
    expect(more.status).toBe(400);
    expect(more.body.error).toMatchObject({
      code: "VALIDATION_ERROR",
      details: { reason: "exceeds_unspent", refundable: 0 },
    });
  });

  it("never refunds more than the unspent part, whatever the concurrency", async () => {
    const { user, paymentIntentId } = await funded(100);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        refund(user.token, { paymentIntentId, amount: 30, idempotencyKey: randomUUID() }),
      ),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(3);
    expect(answers.filter((answer) => answer.status === 400)).toHaveLength(3);
    expect(refundsAt(paymentIntentId).reduce((sum, r) => sum + Number(r.amount), 0)).toBe(90);
    expect(await balanceOf(user)).toBe(10 * 10_000);
  });

  it("lets only the owner or an admin refund; a key reused with another amount conflicts", async () => {
    const { user, paymentIntentId } = await funded(100);
    const stranger = await s.h.user("stranger");
    const refused = await refund(stranger.token, { paymentIntentId, idempotencyKey: randomUUID() });
    expect(refused.status).toBe(404);
    const admin = await s.h.admin();
    const key = randomUUID();
    const byAdmin = await refund(admin.token, { paymentIntentId, amount: 40, idempotencyKey: key });
    expect(byAdmin.status, JSON.stringify(byAdmin.body)).toBe(200);
    expect(byAdmin.body).toMatchObject({ userId: user.id, amount: 40 });
    const conflict = await refund(admin.token, { paymentIntentId, amount: 50, idempotencyKey: key });
    expect(conflict.body.error.code).toBe("IDEMPOTENCY_CONFLICT");
    expect(await balanceOf(user)).toBe(60 * 10_000);
  });

  it("gives the balance back when Stripe refuses, and finishes a refund Stripe could not be reached for", async () => {
    const { user, paymentIntentId } = await funded(100);
    const intent = s.sim.state.paymentIntents.get(paymentIntentId);
    if (!intent) throw new Error("the top-up's PaymentIntent is at Stripe");
    // As if it were disputed meanwhile: Stripe refuses to refund it.
    intent.status = "canceled";
    const refused = await refund(user.token, { paymentIntentId, idempotencyKey: randomUUID() });
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe("BILLING_FAILED");
    expect(await balanceOf(user)).toBe(100 * 10_000);
    intent.status = "succeeded";

    s.sim.failNext("/v1/refunds", "500", 3);
    const key = randomUUID();
    const down = await refund(user.token, { paymentIntentId, amount: 25, idempotencyKey: key });
    expect(down.status).toBe(503);
    expect(down.body.error.details).toMatchObject({ retryable: true });
    // Held meanwhile: it cannot be spent or refunded twice.
    expect(await balanceOf(user)).toBe(75 * 10_000);
    const again = await refund(user.token, { paymentIntentId, amount: 25, idempotencyKey: key });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(refundsAt(paymentIntentId)).toHaveLength(1);
    expect(await balanceOf(user)).toBe(75 * 10_000);
  });

  it("converges a refund made at Stripe (charge.refunded) once, however often it is delivered", async () => {
    const { user, paymentIntentId } = await funded(100);
    const charge = {
      id: `ch_${randomUUID()}`,
      object: "charge",
      payment_intent: paymentIntentId,
      amount: 100,
      currency: "usd",
    };
    for (let i = 0; i < 2; i++) {
      const delivered = await s.deliver("charge.refunded", {
        ...charge,
        amount_refunded: 20,
        refunded: false,
      });
      expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);
    }
    expect(await balanceOf(user)).toBe(80 * 10_000);
    // What the ledger took itself is not taken again when Stripe reports its running total.
    const ours = await refund(user.token, { paymentIntentId, amount: 30, idempotencyKey: randomUUID() });
    expect(ours.status).toBe(200);
    await s.deliver("charge.refunded", { ...charge, amount_refunded: 50, refunded: false });
    expect(await balanceOf(user)).toBe(50 * 10_000);
    const refundable = await refund(user.token, {
      paymentIntentId,
      amount: 51,
      idempotencyKey: randomUUID(),
    });
    expect(refundable.body.error.details).toMatchObject({ refundable: 50 });
  });
});
