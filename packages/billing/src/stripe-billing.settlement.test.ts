import type { Charge } from "@spell/engine";
import { describe, expect, it } from "vitest";
import { createStripeBilling } from "./stripe-billing.ts";
import { createMemoryBillingStore, spellRecord, useFakeStripe, userRecord } from "./testing/index.ts";

const { fake } = useFakeStripe();

const EXECUTION_ID = "7d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6";

async function setup(options: { captureWindowMs?: number } = {}) {
  const store = createMemoryBillingStore();
  const billing = createStripeBilling({
    secretKey: "sk_test_123",
    webhookSecret: "whsec_test",
    store,
    allowedReturnOrigins: ["https://app.example.com"],
    maxNetworkRetries: 1,
    ...options,
  });
  const customer = fake.createCustomer({ user_id: "user-1" });
  await store.setCustomerIdIfUnset("user-1", customer.id);
  await store.setDefaultPaymentMethod(customer.id, "pm_card_visa");
  const user = userRecord("user-1", { stripeCustomerId: customer.id, hasPaymentMethod: true });
  const spell = spellRecord();
  const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });
  return { store, billing, charge };
}

/** What the engine's `finish` writes with the stored answer: the pending capture (or cancel). */
function order(
  store: ReturnType<typeof createMemoryBillingStore>,
  charge: Charge,
  action: "capture" | "cancel",
) {
  store.settlements.set(charge.paymentIntentId, {
    paymentIntentId: charge.paymentIntentId,
    executionId: EXECUTION_ID,
    action,
    status: "pending",
    result: null,
    attempts: 0,
    createdAt: new Date(),
  });
}

const capturePath = (charge: Charge) => `/v1/payment_intents/${charge.paymentIntentId}/capture`;

describe("settlement: Stripe's view wins", () => {
  it("a capture whose answer was lost is pending, and the worker records it as charged without capturing twice", async () => {
    const { billing, store, charge } = await setup();
    order(store, charge, "capture");
    // Stripe captures, then the connection drops, on the call and on the SDK's retry.
    fake.failNext(capturePath(charge), "network-after-commit", 3);

    const settled = await billing.settle(charge, "succeeded");
    expect(settled).toEqual({ status: "pending", refunded: false });
    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("succeeded");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("pending");
    expect(store.settlements.get(charge.paymentIntentId)).toMatchObject({ status: "pending", attempts: 1 });

    await billing.runSettlement(charge.paymentIntentId);

    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");
    expect(store.settlements.get(charge.paymentIntentId)).toMatchObject({
      status: "done",
      result: "succeeded",
    });
    // The worker read the intent and saw it captured: no further capture request.
    expect(fake.requestsTo(capturePath(charge))).toHaveLength(2);
  });

  it("a capture Stripe refused with 500s is retried by the worker until it succeeds", async () => {
    const { billing, store, charge } = await setup();
    order(store, charge, "capture");
    fake.failNext(capturePath(charge), "500", 4);

    await expect(billing.settle(charge, "succeeded")).resolves.toMatchObject({ status: "pending" });
    // The job's first retry still meets 500s (it throws, so pg-boss retries it with backoff).
    await expect(billing.runSettlement(charge.paymentIntentId)).rejects.toThrow();
    expect(store.settlements.get(charge.paymentIntentId)?.status).toBe("pending");
    await billing.runSettlement(charge.paymentIntentId);

    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("succeeded");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");
    expect(store.settlements.get(charge.paymentIntentId)?.status).toBe("done");
  });

  it("an authorization not captured within the capture window is released, never captured late", async () => {
    const { billing, store, charge } = await setup({ captureWindowMs: 0 });
    order(store, charge, "capture");

    await billing.runSettlement(charge.paymentIntentId);

    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("canceled");
    expect(fake.requestsTo(capturePath(charge))).toHaveLength(0);
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("canceled");
  });

  it("a pending cancel of an intent captured meanwhile becomes a refund", async () => {
    const { billing, store, charge } = await setup();
    await billing.settle(charge, "succeeded");
    order(store, charge, "cancel");

    await billing.runSettlement(charge.paymentIntentId);

    expect(fake.requestsTo("/v1/refunds", "POST").map((r) => r.idempotencyKey)).toEqual([
      `refund:${charge.paymentIntentId}`,
    ]);
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("refunded");
  });

  it("a done settlement is never carried out again", async () => {
    const { billing, store, charge } = await setup();
    order(store, charge, "capture");
    await billing.settle(charge, "succeeded");
    await billing.runSettlement(charge.paymentIntentId);
    await billing.runSettlement(charge.paymentIntentId);
    expect(fake.requestsTo(capturePath(charge))).toHaveLength(1);
    expect(fake.requestsTo(`/v1/payment_intents/${charge.paymentIntentId}`, "GET")).toHaveLength(0);
  });
});

describe("charge deadline", () => {
  it("a hanging Stripe answers a retryable 503 within the charge deadline, not minutes later", async () => {
    const store = createMemoryBillingStore();
    const billing = createStripeBilling({
      secretKey: "sk_test_123",
      webhookSecret: "whsec_test",
      store,
      allowedReturnOrigins: ["https://app.example.com"],
      chargeDeadlineMs: 300,
    });
    const customer = fake.createCustomer({ user_id: "user-1" });
    await store.setCustomerIdIfUnset("user-1", customer.id);
    await store.setDefaultPaymentMethod(customer.id, "pm_card_visa");
    const user = userRecord("user-1", { stripeCustomerId: customer.id, hasPaymentMethod: true });
    const spell = spellRecord();
    fake.failNext("/v1/payment_intents", "hang");
    const started = performance.now();
    const error = await billing
      .charge({ executionId: EXECUTION_ID, user, spell, price: spell.price })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { step: "charge" } });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
