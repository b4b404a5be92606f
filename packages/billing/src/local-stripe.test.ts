import { AppError } from "@spell/contracts";
import { afterEach, describe, expect, it } from "vitest";
import { LOCAL_AUTHENTICATE_HINT, type LocalStripeBilling, startLocalStripeBilling } from "./local-stripe.ts";
import { createMemoryBillingStore, spellRecord, userRecord } from "./testing/index.ts";

const running: LocalStripeBilling[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((billing) => billing.close()));
});

/** The quick start's provider: the real adapter against the simulated Stripe on loopback. */
async function setup() {
  const store = createMemoryBillingStore();
  const billing = await startLocalStripeBilling({
    store,
    allowedReturnOrigins: ["http://localhost:5173"],
    publicBaseUrl: "http://localhost:3000/",
    production: false,
  });
  running.push(billing);
  return { store, billing, user: userRecord("user-1"), spell: spellRecord({ amount: 100, currency: "usd" }) };
}

async function caught(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("local test payment provider (real adapter, simulated Stripe)", () => {
  it("refuses to exist in production", async () => {
    await expect(
      startLocalStripeBilling({
        store: createMemoryBillingStore(),
        allowedReturnOrigins: [],
        publicBaseUrl: "https://spell.example.com",
        production: true,
      }),
    ).rejects.toThrow(/production/);
  });

  it("saves a test card through the simulated Checkout page, its webhook verified by the adapter", async () => {
    const { store, billing, user } = await setup();
    const url = await billing.createCheckoutUrl(user, {
      successUrl: "http://localhost:5173/ok",
      cancelUrl: "http://localhost:5173/cancel",
    });
    expect(url).toMatch(/^http:\/\/localhost:3000\/local-billing\/checkout\?session=cs_local_/);
    const session = new URL(url).searchParams.get("session") ?? undefined;

    const page = billing.routes.checkoutPage(session);
    expect(page.status).toBe(200);
    expect(page.body).toContain("LOCAL TEST PAYMENT PROVIDER");
    expect(page.body).toContain("pm_card_authenticationRequired");

    const done = await billing.routes.completeCheckout({ session, paymentMethod: "pm_card_visa" });
    expect(done).toMatchObject({ status: 303, headers: { location: "http://localhost:5173/ok" } });
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_visa");
    // Signed by the simulation, verified and recorded by the adapter like a delivery from Stripe.
    expect([...store.events.values()]).toEqual(["setup_intent.succeeded", "checkout.session.completed"]);
    // A link is used once.
    expect(billing.routes.checkoutPage(session).status).toBe(404);
  });

  it("changes the default card through the simulated Billing Portal (customer.updated)", async () => {
    const { store, billing, user } = await setup();
    await billing.routes.attach(user, "pm_card_visa");
    const url = await billing.createPortalUrl(user, { returnUrl: "http://localhost:5173/back" });
    expect(url).toMatch(/^http:\/\/localhost:3000\/local-billing\/portal\?session=bps_local_/);
    const session = new URL(url).searchParams.get("session") ?? undefined;
    expect(billing.routes.portalPage(session).body).toContain("pm_card_visa");

    const done = await billing.routes.completePortal({ session, paymentMethod: "pm_card_chargeDeclined" });
    expect(done).toMatchObject({ status: 303, headers: { location: "http://localhost:5173/back" } });
    expect(store.users.get("user-1")?.defaultPaymentMethodId).toBe("pm_card_chargeDeclined");
  });

  it("refuses return URLs outside the allowlist and unknown test cards", async () => {
    const { billing, user } = await setup();
    const error = await caught(
      billing.createCheckoutUrl(user, {
        successUrl: "https://evil.example.com/",
        cancelUrl: "http://localhost:5173/",
      }),
    );
    expect(error.code).toBe("VALIDATION_ERROR");
    expect((await caught(billing.routes.attach(user, "pm_card_real_one"))).code).toBe("VALIDATION_ERROR");
  });

  it("pm_card_visa: the charge is authorized, captured on success and released on failure", async () => {
    const { store, billing, user, spell } = await setup();
    await expect(billing.routes.attach(user, "pm_card_visa")).resolves.toEqual({
      ok: true,
      paymentMethod: "pm_card_visa",
    });

    const first = await billing.charge({ executionId: "exe-1", user, spell, price: spell.price });
    expect(first).toMatchObject({
      amount: 100,
      currency: "usd",
      paymentIntentId: expect.stringMatching(/^pi_local_/),
    });
    expect(await billing.charge({ executionId: "exe-1", user, spell, price: spell.price })).toEqual(first);
    await expect(billing.settle(first, "succeeded")).resolves.toEqual({ status: "charged", refunded: false });
    expect((await store.findRecordByPaymentIntent(first.paymentIntentId))?.status).toBe("succeeded");

    const second = await billing.charge({ executionId: "exe-2", user, spell, price: spell.price });
    await expect(billing.settle(second, "failed")).resolves.toEqual({
      status: "not_charged",
      refunded: true,
    });
    expect((await store.findRecordByPaymentIntent(second.paymentIntentId))?.status).toBe("canceled");
  });

  it("pm_card_chargeDeclined: BILLING_FAILED with generic_decline", async () => {
    const { store, billing, user, spell } = await setup();
    await billing.routes.attach(user, "pm_card_chargeDeclined");

    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));

    expect(error.code).toBe("BILLING_FAILED");
    expect(error.details.declineCode).toBe("generic_decline");
    expect([...store.records.values()].map((record) => record.status)).toEqual(["failed"]);
  });

  it("pm_card_authenticationRequired: PAYMENT_REQUIRES_ACTION, then authenticate and resume", async () => {
    const { store, billing, user, spell } = await setup();
    await billing.routes.attach(user, "pm_card_authenticationRequired");

    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));
    expect(error.code).toBe("PAYMENT_REQUIRES_ACTION");
    expect(error.details).toMatchObject({
      paymentIntentId: expect.stringMatching(/^pi_local_/),
      clientSecret: expect.stringContaining("_secret_"),
      hint: LOCAL_AUTHENTICATE_HINT,
    });
    const paymentIntentId = String(error.details.paymentIntentId);

    expect(await billing.resumePayment(user, paymentIntentId)).toEqual({
      executionId: "exe-1",
      status: "requires_action",
      charge: null,
    });
    const other = userRecord("user-2");
    expect((await caught(billing.routes.authenticate(other, paymentIntentId))).code).toBe("FORBIDDEN");
    expect((await caught(billing.routes.authenticate(user, "pi_local_nope"))).code).toBe("NOT_FOUND");
    await expect(billing.routes.authenticate(user, paymentIntentId)).resolves.toEqual({
      ok: true,
      paymentIntentId,
    });
    // The simulated Stripe's payment_intent.amount_capturable_updated reached the record.
    expect((await store.findRecordByPaymentIntent(paymentIntentId))?.status).toBe("pending");
    const resumed = await billing.resumePayment(user, paymentIntentId);
    expect(resumed).toMatchObject({ executionId: "exe-1", status: "succeeded", charge: { paymentIntentId } });
    expect((await caught(billing.resumePayment(other, paymentIntentId))).code).toBe("FORBIDDEN");
    expect((await caught(billing.resumePayment(user, "pi_local_nope"))).code).toBe("NOT_FOUND");
  });

  it("authenticate refuses a payment that does not wait for it", async () => {
    const { billing, user, spell } = await setup();
    await billing.routes.attach(user, "pm_card_visa");
    const charge = await billing.charge({ executionId: "exe-1", user, spell, price: spell.price });
    await billing.settle(charge, "failed");
    const error = await caught(billing.routes.authenticate(user, charge.paymentIntentId));
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { status: "canceled" } });
  });

  it("answers PAYMENT_METHOD_REQUIRED before a card is saved", async () => {
    const { billing, user, spell } = await setup();
    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));
    expect(error.code).toBe("PAYMENT_METHOD_REQUIRED");
  });

  it("takes no webhooks over HTTP: only the simulation in this process signs its events", async () => {
    const { billing } = await setup();
    const error = await caught(billing.handleWebhook(Buffer.from("{}"), "t=1,v1=00"));
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", details: { reason: "local-test-provider" } });
  });
});
