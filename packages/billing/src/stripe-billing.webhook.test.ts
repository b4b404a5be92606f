import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createStripeBilling } from "./stripe-billing.ts";
import {
  createMemoryBillingStore,
  createStripeEvent,
  signWebhookPayload,
  spellRecord,
  useFakeStripe,
  userRecord,
} from "./testing/index.ts";

const { fake } = useFakeStripe();

const SECRET = "whsec_test_secret";

async function setup(maxNetworkRetries = 2) {
  const store = createMemoryBillingStore();
  const billing = createStripeBilling({
    secretKey: "sk_test_123",
    webhookSecret: SECRET,
    store,
    allowedReturnOrigins: ["https://app.example.com"],
    maxNetworkRetries,
  });
  const user = userRecord("user-1");
  const url = await billing.createCheckoutUrl(user, {
    successUrl: "https://app.example.com/ok",
    cancelUrl: "https://app.example.com/no",
  });
  const session = [...fake.state.checkoutSessions.values()].find((s) => s.url === url);
  if (!session) throw new Error("no session");
  const customerId = String(session.customer);
  return { store, billing, user, session, customerId };
}

function deliver(
  billing: ReturnType<typeof createStripeBilling>,
  event: unknown,
  options: { secret?: string; timestamp?: number } = {},
) {
  const { body, signature } = signWebhookPayload(event, options.secret ?? SECRET, options.timestamp);
  return billing.handleWebhook(body, signature);
}

async function rejected(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe("VALIDATION_ERROR");
  return error as AppError;
}

describe("webhook", () => {
  it("checkout.session.completed saves the SetupIntent's card as the default payment method", async () => {
    const { store, billing, session, customerId } = await setup();
    const completed = fake.completeCheckout(session.id, "pm_card_visa");

    const result = await deliver(billing, createStripeEvent("checkout.session.completed", completed));

    expect(result).toEqual({ received: true, duplicate: false });
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_visa");
    const customer = fake.state.customers.get(customerId);
    expect(customer?.invoice_settings).toMatchObject({ default_payment_method: "pm_card_visa" });
  });

  it("setup_intent.succeeded saves the card too", async () => {
    const { store, billing, session } = await setup();
    fake.completeCheckout(session.id, "pm_card_mastercard");
    const setupIntent = fake.state.setupIntents.get(String(session.setup_intent));

    await deliver(billing, createStripeEvent("setup_intent.succeeded", setupIntent ?? {}));

    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_mastercard");
  });

  it("payment_method.detached clears the default payment method", async () => {
    const { store, billing, customerId } = await setup();
    await store.setDefaultPaymentMethod(customerId, "pm_card_visa");

    await deliver(
      billing,
      createStripeEvent("payment_method.detached", {
        id: "pm_card_visa",
        object: "payment_method",
        customer: null,
      }),
    );

    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBeNull();
  });

  it("a replayed event is answered as a duplicate and changes nothing", async () => {
    const { store, billing, session } = await setup();
    const event = createStripeEvent(
      "checkout.session.completed",
      fake.completeCheckout(session.id, "pm_card_visa"),
    );
    await deliver(billing, event);
    await store.setDefaultPaymentMethod(String(session.customer), "pm_card_other");
    const requestsBefore = fake.requests.length;

    const replay = await deliver(billing, event);

    expect(replay).toEqual({ received: true, duplicate: true });
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_other");
    expect(fake.requests).toHaveLength(requestsBefore);
  });

  it("forgets an event whose handling failed, so Stripe's redelivery is applied", async () => {
    const { store, billing, session } = await setup(0);
    const event = createStripeEvent(
      "checkout.session.completed",
      fake.completeCheckout(session.id, "pm_card_visa"),
    );
    fake.failNext(`/v1/setup_intents/${String(session.setup_intent)}`, "500");

    const error = await deliver(billing, event).catch((e: unknown) => e);
    expect((error as AppError).code).toBe("SERVICE_UNAVAILABLE");
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBeNull();

    await expect(deliver(billing, event)).resolves.toEqual({ received: true, duplicate: false });
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_visa");
  });

  it("refuses an unsigned, badly signed or stale delivery and changes nothing", async () => {
    const { store, billing, session } = await setup();
    const event = createStripeEvent(
      "checkout.session.completed",
      fake.completeCheckout(session.id, "pm_card_visa"),
    );
    const body = Buffer.from(JSON.stringify(event));

    expect((await rejected(billing.handleWebhook(body, undefined))).details.reason).toBe("unsigned");
    await rejected(deliver(billing, event, { secret: "whsec_wrong" }));
    await rejected(deliver(billing, event, { timestamp: Math.floor(Date.now() / 1000) - 301 }));
    const tampered = signWebhookPayload(event, SECRET);
    expect(tampered.body.toString()).toContain('"mode":"setup"');
    const changed = Buffer.from(tampered.body.toString().replace('"mode":"setup"', '"mode":"payment"'));
    await rejected(billing.handleWebhook(changed, tampered.signature));

    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBeNull();
    expect(store.events.size).toBe(0);
  });

  it("keeps billing records in sync with payment_intent and charge.refunded events", async () => {
    const { store, billing, customerId } = await setup();
    await store.setDefaultPaymentMethod(customerId, "pm_card_visa");
    const user = userRecord("user-1", { stripeCustomerId: customerId, hasPaymentMethod: true });
    const spell = spellRecord();
    const charge = await billing.charge({ executionId: "exe-1", user, spell, price: spell.price });
    await billing.settle(charge, "succeeded");
    const intent = fake.state.paymentIntents.get(charge.paymentIntentId);
    if (!intent) throw new Error("no intent");

    await deliver(billing, createStripeEvent("payment_intent.succeeded", intent));
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("succeeded");

    const refundedCharge = {
      id: intent.latest_charge,
      object: "charge",
      amount: 150,
      amount_refunded: 150,
      payment_intent: charge.paymentIntentId,
      refunded: true,
    };
    await deliver(billing, createStripeEvent("charge.refunded", refundedCharge));
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("refunded");

    // A late, reordered success must not turn the refund back into a charge.
    await deliver(billing, createStripeEvent("payment_intent.succeeded", intent));
    expect((await store.findRecordByPaymentIntent(charge.paymentIntentId))?.status).toBe("refunded");
  });

  it("payment_intent.payment_failed marks a waiting record failed with the decline code", async () => {
    const { store, billing, customerId } = await setup();
    await store.setDefaultPaymentMethod(customerId, "pm_card_authenticationRequired");
    const user = userRecord("user-1", { stripeCustomerId: customerId, hasPaymentMethod: true });
    const spell = spellRecord();
    const error = await billing
      .charge({ executionId: "exe-2", user, spell, price: spell.price })
      .catch((e) => e);
    const paymentIntentId = String((error as AppError).details.paymentIntentId);
    const intent = structuredClone(fake.state.paymentIntents.get(paymentIntentId));
    if (!intent) throw new Error("no intent");
    intent.last_payment_error = { code: "card_declined", decline_code: "do_not_honor", type: "card_error" };

    await deliver(billing, createStripeEvent("payment_intent.payment_failed", intent));

    expect(await store.findRecordByPaymentIntent(paymentIntentId)).toMatchObject({
      status: "failed",
      failureCode: "do_not_honor",
    });
  });
});
