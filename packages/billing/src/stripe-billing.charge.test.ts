import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createStripeBilling } from "./stripe-billing.ts";
import { createMemoryBillingStore, spellRecord, useFakeStripe, userRecord } from "./testing/index.ts";

const { fake } = useFakeStripe();

const EXECUTION_ID = "0e5b7f4c-6a0d-4f7e-9d0b-5c1a2b3c4d5e";

async function setup(paymentMethod: string | null = "pm_card_visa") {
  const store = createMemoryBillingStore();
  const billing = createStripeBilling({
    secretKey: "sk_test_123",
    webhookSecret: "whsec_test",
    store,
    allowedReturnOrigins: ["https://app.example.com"],
    maxNetworkRetries: 2,
  });
  const customer = fake.createCustomer({ user_id: "user-1" });
  await store.setCustomerIdIfUnset("user-1", customer.id);
  if (paymentMethod) await store.setDefaultPaymentMethod(customer.id, paymentMethod);
  const user = userRecord("user-1", {
    stripeCustomerId: customer.id,
    hasPaymentMethod: paymentMethod !== null,
  });
  return { store, billing, user, customerId: customer.id, spell: spellRecord() };
}

async function caught(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("charge", () => {
  it("authorizes an off-session PaymentIntent with the execution's idempotency key", async () => {
    const { billing, store, user, customerId, spell } = await setup();

    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    const creates = fake.requestsTo("/v1/payment_intents", "POST");
    expect(creates).toHaveLength(1);
    expect(creates[0]?.idempotencyKey).toBe(`pi-create:${EXECUTION_ID}`);
    expect(creates[0]?.body).toMatchObject({
      amount: "150",
      currency: "usd",
      customer: customerId,
      payment_method: "pm_card_visa",
      confirm: "true",
      off_session: "true",
      capture_method: "manual",
      "metadata[user_id]": "user-1",
      "metadata[spell_id]": spell.id,
      "metadata[execution_id]": EXECUTION_ID,
    });
    expect(charge).toMatchObject({ amount: 150, currency: "usd" });
    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("requires_capture");
    const record = await store.findRecordByPaymentIntent(charge.paymentIntentId);
    expect(record).toMatchObject({
      id: charge.billingRecordId,
      status: "pending",
      executionId: EXECUTION_ID,
    });
  });

  it("answers PAYMENT_METHOD_REQUIRED without calling Stripe when no card is saved", async () => {
    const { billing, user, spell } = await setup(null);

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );

    expect(error.code).toBe("PAYMENT_METHOD_REQUIRED");
    expect(error.details.hint).toBe("POST /api/billing/checkout-url");
    expect(fake.requestsTo("/v1/payment_intents")).toHaveLength(0);
  });

  it("records a declined card as failed and answers BILLING_FAILED with the decline code", async () => {
    const { billing, store, user, spell } = await setup("pm_card_chargeDeclined");

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );

    expect(error.code).toBe("BILLING_FAILED");
    expect(error.details.declineCode).toBe("generic_decline");
    const [record] = store.records.values();
    expect(record).toMatchObject({
      id: error.details.billingRecordId,
      status: "failed",
      failureCode: "generic_decline",
    });
  });

  it("answers PAYMENT_REQUIRES_ACTION for a card needing 3-D Secure, then resumes once authenticated", async () => {
    const { billing, store, user, spell } = await setup("pm_card_authenticationRequired");

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );
    expect(error.code).toBe("PAYMENT_REQUIRES_ACTION");
    const paymentIntentId = String(error.details.paymentIntentId);
    expect(error.details.clientSecret).toMatch(new RegExp(`^${paymentIntentId}_secret_`));
    expect((await store.findRecordByPaymentIntent(paymentIntentId))?.status).toBe("requires_action");

    const waiting = await billing.resumePayment(user, paymentIntentId);
    expect(waiting).toEqual({ executionId: EXECUTION_ID, status: "requires_action", charge: null });

    fake.completeAuthentication(paymentIntentId);
    const resumed = await billing.resumePayment(user, paymentIntentId);
    expect(resumed.status).toBe("succeeded");
    expect(resumed.executionId).toBe(EXECUTION_ID);
    expect(resumed.charge).toMatchObject({ paymentIntentId, amount: 150, currency: "usd" });
    expect((await store.findRecordByPaymentIntent(paymentIntentId))?.status).toBe("pending");
  });

  it("answers PAYMENT_REQUIRES_ACTION when Stripe returns a requires_action intent", async () => {
    fake.state.offSessionAuthentication = "requires_action";
    const { billing, user, spell } = await setup("pm_card_authenticationRequired");

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );

    expect(error.code).toBe("PAYMENT_REQUIRES_ACTION");
    expect(fake.state.paymentIntents.get(String(error.details.paymentIntentId))?.status).toBe(
      "requires_action",
    );
  });

  it("retries a Stripe 500 with the same idempotency key and creates one PaymentIntent", async () => {
    const { billing, user, spell } = await setup();
    fake.failNext("/v1/payment_intents", "500");

    await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    const creates = fake.requestsTo("/v1/payment_intents", "POST");
    expect(creates).toHaveLength(2);
    expect(new Set(creates.map((request) => request.idempotencyKey))).toEqual(
      new Set([`pi-create:${EXECUTION_ID}`]),
    );
    expect(fake.state.paymentIntents.size).toBe(1);
  });

  it("gets the first PaymentIntent back when the connection drops after Stripe created it", async () => {
    const { billing, user, spell } = await setup();
    fake.failNext("/v1/payment_intents", "network-after-commit");

    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    expect(fake.requestsTo("/v1/payment_intents", "POST")).toHaveLength(2);
    expect([...fake.state.paymentIntents.keys()]).toEqual([charge.paymentIntentId]);
  });

  it("answers SERVICE_UNAVAILABLE with nothing charged when Stripe stays unreachable", async () => {
    const { billing, store, user, spell } = await setup();
    fake.failNext("/v1/payment_intents", "network", 3);

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );

    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(fake.requestsTo("/v1/payment_intents", "POST")).toHaveLength(3);
    expect(fake.state.paymentIntents.size).toBe(0);
    expect(store.records.size).toBe(0);
  });

  it("concurrent charges of one execution create one PaymentIntent and one record", async () => {
    const { billing, store, user, spell } = await setup();

    const charges = await Promise.all(
      Array.from({ length: 10 }, () =>
        billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
      ),
    );

    expect(new Set(charges.map((charge) => charge.paymentIntentId)).size).toBe(1);
    expect(fake.state.paymentIntents.size).toBe(1);
    expect(store.records.size).toBe(1);
  });

  it("refuses a price below Stripe's minimum without calling Stripe", async () => {
    const { billing, user, spell } = await setup();

    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: { amount: 10, currency: "usd" } }),
    );

    expect(error.code).toBe("PRICE_BELOW_MINIMUM");
    expect(fake.requests).toHaveLength(0);
  });

  it("charging the same execution twice returns the same PaymentIntent and record", async () => {
    const { billing, store, user, spell } = await setup();

    const first = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });
    const second = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    expect(second).toEqual(first);
    expect(fake.state.paymentIntents.size).toBe(1);
    expect(store.records.size).toBe(1);
  });
});

describe("settle", () => {
  it("captures the authorization after a successful run", async () => {
    const { billing, store, user, spell } = await setup();
    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    await expect(billing.settle(charge, "succeeded")).resolves.toEqual({
      status: "charged",
      refunded: false,
    });

    const captures = fake.requestsTo(`/v1/payment_intents/${charge.paymentIntentId}/capture`);
    expect(captures.map((request) => request.idempotencyKey)).toEqual([
      `pi-capture:${charge.paymentIntentId}`,
    ]);
    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("succeeded");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");
  });

  it("cancels the authorization after a failed run and records it", async () => {
    const { billing, store, user, spell } = await setup();
    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    await expect(billing.settle(charge, "failed")).resolves.toEqual({
      status: "not_charged",
      refunded: true,
    });

    const cancels = fake.requestsTo(`/v1/payment_intents/${charge.paymentIntentId}/cancel`);
    expect(cancels.map((request) => request.idempotencyKey)).toEqual([`pi-cancel:${charge.paymentIntentId}`]);
    expect(fake.requestsTo(`/v1/payment_intents/${charge.paymentIntentId}/capture`)).toHaveLength(0);
    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("canceled");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("canceled");
  });

  it("refunds instead when the intent was already captured", async () => {
    const { billing, store, user, spell } = await setup();
    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });
    await billing.settle(charge, "succeeded");

    await expect(billing.settle(charge, "failed")).resolves.toEqual({
      status: "not_charged",
      refunded: true,
    });

    const refunds = fake.requestsTo("/v1/refunds", "POST");
    expect(refunds.map((request) => request.idempotencyKey)).toEqual([`refund:${charge.paymentIntentId}`]);
    expect(refunds[0]?.body.payment_intent).toBe(charge.paymentIntentId);
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("refunded");
  });
});

describe("resumePayment", () => {
  it("refuses another user's PaymentIntent and answers NOT_FOUND for an unknown one", async () => {
    const { billing, user, spell } = await setup("pm_card_authenticationRequired");
    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );
    const paymentIntentId = String(error.details.paymentIntentId);

    const intruder = userRecord("user-2");
    expect((await caught(billing.resumePayment(intruder, paymentIntentId))).code).toBe("FORBIDDEN");
    expect((await caught(billing.resumePayment(user, "pi_doesnotexist"))).code).toBe("NOT_FOUND");
  });
});

describe("charge: the saved card the request's user read carried", () => {
  it("charges the carried customer and card without reading the store again", async () => {
    const { billing, store, customerId, spell } = await setup();
    let reads = 0;
    const getCustomer = store.getCustomer;
    store.getCustomer = (userId) => {
      reads += 1;
      return getCustomer(userId);
    };
    const user = userRecord("user-1", {
      stripeCustomerId: customerId,
      hasPaymentMethod: true,
      defaultPaymentMethodId: "pm_card_visa",
    });

    await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    expect(reads).toBe(0);
    expect(fake.requestsTo("/v1/payment_intents", "POST")[0]?.body).toMatchObject({
      customer: customerId,
      payment_method: "pm_card_visa",
    });
  });

  it("reads the store when the record carries no card (a card saved since is found)", async () => {
    const { billing, customerId, spell } = await setup();
    // The record says "no card", the store has one: only the store's answer may refuse.
    const user = userRecord("user-1", { stripeCustomerId: null, defaultPaymentMethodId: null });

    await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });

    expect(fake.requestsTo("/v1/payment_intents", "POST")[0]?.body).toMatchObject({
      customer: customerId,
      payment_method: "pm_card_visa",
    });
  });
});

describe("charge: Stripe authorized but the record could not be written", () => {
  it("cancels the PaymentIntent at once and rethrows the store's failure", async () => {
    const { billing, store, user, spell } = await setup();
    const outage = new Error("connection terminated");
    store.createRecord = async () => {
      throw outage;
    };

    await expect(billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price })).rejects.toBe(
      outage,
    );

    const [intent] = fake.state.paymentIntents.values();
    expect(intent?.status).toBe("canceled");
    expect(fake.requestsTo(`/v1/payment_intents/${intent?.id}/cancel`).map((r) => r.idempotencyKey)).toEqual([
      `pi-cancel:${intent?.id}`,
    ]);
  });

  it("still rethrows the store's failure when the cancel cannot reach Stripe (it is reported)", async () => {
    const reported: string[] = [];
    const store = createMemoryBillingStore();
    const billing = createStripeBilling({
      secretKey: "sk_test_123",
      webhookSecret: "whsec_test",
      store,
      allowedReturnOrigins: ["https://app.example.com"],
      maxNetworkRetries: 1,
      onBackgroundError: (_error, context) => reported.push(context.step),
    });
    const customer = fake.createCustomer({ user_id: "user-1" });
    await store.setCustomerIdIfUnset("user-1", customer.id);
    await store.setDefaultPaymentMethod(customer.id, "pm_card_visa");
    const outage = new Error("connection terminated");
    store.createRecord = async () => {
      throw outage;
    };
    fake.failNext("/v1/payment_intents/*/cancel", "500", 2);
    const user = userRecord("user-1", { stripeCustomerId: customer.id, hasPaymentMethod: true });
    const spell = spellRecord();

    await expect(billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price })).rejects.toBe(
      outage,
    );

    expect(reported).toEqual(["release-unrecorded"]);
    expect([...fake.state.paymentIntents.values()][0]?.status).toBe("requires_capture");
  });

  it("a retry of the same execution never runs on the released authorization", async () => {
    const { billing, store, user, spell } = await setup();
    const createRecord = store.createRecord;
    store.createRecord = async () => {
      throw new Error("connection terminated");
    };
    await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }).catch(() => {});
    store.createRecord = createRecord;

    // Same execution id, same idempotency key: Stripe replays its first answer ("authorized").
    const error = await caught(
      billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price }),
    );

    expect(error.code).toBe("BILLING_FAILED");
    expect(fake.state.paymentIntents.size).toBe(1);
    expect([...store.records.values()]).toEqual([expect.objectContaining({ status: "canceled" })]);
  });
});

describe("settle: the settlement's done bookkeeping is off the answer's path", () => {
  it("answers charged once the capture returned, before the done write has finished", async () => {
    const { billing, store, user, spell } = await setup();
    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });
    const complete = store.completeSettlement;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    store.completeSettlement = async (id, result) => {
      await held;
      return complete(id, result);
    };

    await expect(billing.settle(charge, "succeeded")).resolves.toEqual({
      status: "charged",
      refunded: false,
    });

    // Captured before the answer; recorded after it.
    expect(fake.state.paymentIntents.get(charge.paymentIntentId)?.status).toBe("succeeded");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("pending");
    let idle = false;
    const waiting = billing.idle().then(() => {
      idle = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(idle).toBe(false);
    release();
    await waiting;
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");
  });

  it("a failed done write is reported and leaves the order for the worker, the answer stands", async () => {
    const reported: Array<{ step: string; paymentIntentId: string }> = [];
    const store = createMemoryBillingStore();
    const billing = createStripeBilling({
      secretKey: "sk_test_123",
      webhookSecret: "whsec_test",
      store,
      allowedReturnOrigins: ["https://app.example.com"],
      onBackgroundError: (_error, context) => reported.push(context),
    });
    const customer = fake.createCustomer({ user_id: "user-1" });
    await store.setCustomerIdIfUnset("user-1", customer.id);
    await store.setDefaultPaymentMethod(customer.id, "pm_card_visa");
    const user = userRecord("user-1", { stripeCustomerId: customer.id, hasPaymentMethod: true });
    const spell = spellRecord();
    const charge = await billing.charge({ executionId: EXECUTION_ID, user, spell, price: spell.price });
    store.settlements.set(charge.paymentIntentId, {
      paymentIntentId: charge.paymentIntentId,
      executionId: EXECUTION_ID,
      action: "capture",
      status: "pending",
      result: null,
      attempts: 0,
      createdAt: new Date(),
    });
    const complete = store.completeSettlement;
    store.completeSettlement = async () => {
      throw new Error("connection terminated");
    };

    await expect(billing.settle(charge, "succeeded")).resolves.toEqual({
      status: "charged",
      refunded: false,
    });
    await billing.idle();

    expect(reported).toEqual([{ step: "record-settlement", paymentIntentId: charge.paymentIntentId }]);
    expect(store.settlements.get(charge.paymentIntentId)?.status).toBe("pending");
    // The worker re-reads Stripe and records what it holds, without capturing twice.
    store.completeSettlement = complete;
    await billing.runSettlement(charge.paymentIntentId);
    expect(store.settlements.get(charge.paymentIntentId)?.status).toBe("done");
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");
    expect(fake.requestsTo(`/v1/payment_intents/${charge.paymentIntentId}/capture`)).toHaveLength(1);
  });
});
