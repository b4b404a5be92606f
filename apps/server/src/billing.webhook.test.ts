import { createStripeEvent, signWebhookPayload } from "@spell/billing/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness, WEBHOOK_SECRET } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterAll(() => s?.close());

const eventCount = () => s.h.testDb.database.prisma.stripeEvent.count();

/** A user with a Stripe customer (made through checkout-url) and an open setup-mode Checkout session. */
async function openCheckout(caller: Caller): Promise<{ customerId: string; sessionId: string }> {
  const checkout = await s.h.call("POST", "/api/billing/checkout-url", {
    token: caller.token,
    body: { successUrl: "https://app.spell.test/ok", cancelUrl: "https://app.spell.test/no" },
  });
  expect(checkout.status).toBe(200);
  const sessionId = /\/pay\/(cs_test_[A-Za-z0-9]+)/.exec(checkout.body.url)?.[1] ?? "";
  const { stripeCustomerId } = await s.h.testDb.database.billing.getCustomer(caller.id);
  return { customerId: stripeCustomerId ?? "", sessionId };
}

const setupSucceeded = (customerId: string, paymentMethod: string) =>
  createStripeEvent("setup_intent.succeeded", {
    id: `seti_${paymentMethod}`,
    object: "setup_intent",
    customer: customerId,
    payment_method: paymentMethod,
    status: "succeeded",
    usage: "off_session",
    metadata: {},
  });

describe("POST /api/billing/webhook", () => {
  it("a valid checkout.session.completed saves the card as the default: 200 received", async () => {
    const kim = await s.h.user("kim");
    const { sessionId } = await openCheckout(kim);
    const session = s.fake.completeCheckout(sessionId, "pm_card_visa");

    const response = await s.deliver(createStripeEvent("checkout.session.completed", session));
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ok: true, received: true, duplicate: false });
    expect((await s.h.testDb.database.billing.getCustomer(kim.id)).defaultPaymentMethodId).toBe(
      "pm_card_visa",
    );
  });

  it("charge.refunded moves the execution's billing record to refunded", async () => {
    const lee = await s.h.user("lee");
    await s.saveCard(lee);
    const executed = await s.execute(lee, s.countedSlug);
    expect(executed.status).toBe(200);
    // The record's settled status is written just after the answer (Spec §13).
    const settled = () => s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId: lee.id } });
    await expect.poll(async () => (await settled())[0]?.status).toBe("succeeded");
    const [record] = await settled();

    const response = await s.deliver(
      createStripeEvent("charge.refunded", {
        id: "ch_refunded_1",
        object: "charge",
        amount: 75,
        amount_refunded: 75,
        currency: "usd",
        payment_intent: record?.paymentIntentId,
        refunded: true,
        status: "succeeded",
      }),
    );
    expect(response.status).toBe(200);
    const after = await s.h.testDb.database.billing.findRecordByPaymentIntent(record?.paymentIntentId ?? "");
    expect(after?.status).toBe("refunded");
  });

  it.each([
    ["a wrong secret", { signature: "t=1,v1=00" }],
    ["no Stripe-Signature header", { signature: null }],
    ["a stale timestamp (an hour old)", { timestamp: Math.floor(Date.now() / 1000) - 3600 }],
  ] as const)("refuses %s with 400 VALIDATION_ERROR and changes nothing", async (_name, options) => {
    const max = await s.h.user("max");
    const { customerId } = await openCheckout(max);
    const events = await eventCount();
    const requests = s.fake.requests.length;

    const response = await s.deliver(setupSucceeded(customerId, "pm_card_visa"), options);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "VALIDATION_ERROR", message: expect.any(String), details: expect.any(Object) },
    });
    expect((await s.h.testDb.database.billing.getCustomer(max.id)).defaultPaymentMethodId).toBeNull();
    expect(await eventCount()).toBe(events);
    expect(s.fake.requests.length).toBe(requests);
  });

  it("a body signed for other bytes is refused (the signature covers the raw body)", async () => {
    const ned = await s.h.user("ned");
    const { customerId } = await openCheckout(ned);
    const event = setupSucceeded(customerId, "pm_card_visa");
    const { signature } = signWebhookPayload(event, WEBHOOK_SECRET);
    // Same JSON, re-serialized with different whitespace: a JSON parser before the webhook would do this.
    const response = await s.h.call("POST", "/api/billing/webhook", {
      body: JSON.stringify(event, null, 2),
      headers: { "stripe-signature": signature },
    });
    expect(response.status).toBe(400);
    expect((await s.h.testDb.database.billing.getCustomer(ned.id)).defaultPaymentMethodId).toBeNull();
  });

  it("a replayed event is acknowledged as a duplicate and changes nothing", async () => {
    const ola = await s.h.user("ola");
    const { customerId } = await openCheckout(ola);
    const first = setupSucceeded(customerId, "pm_card_visa");
    expect((await s.deliver(first)).body).toEqual({ ok: true, received: true, duplicate: false });
    // The customer switched cards since.
    expect((await s.deliver(setupSucceeded(customerId, "pm_card_mastercard"))).status).toBe(200);
    const requests = s.fake.requests.length;

    const replay = await s.deliver(first);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ ok: true, received: true, duplicate: true });
    expect((await s.h.testDb.database.billing.getCustomer(ola.id)).defaultPaymentMethodId).toBe(
      "pm_card_mastercard",
    );
    expect(s.fake.requests.length).toBe(requests);
  });
});
