import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createLocalTestBilling } from "./local-test-billing.ts";
import { createMemoryBillingStore } from "./store.ts";
import { spellRecord, userRecord } from "./test-fixtures.ts";

function setup() {
  const store = createMemoryBillingStore();
  const billing = createLocalTestBilling({
    store,
    allowedReturnOrigins: ["http://localhost:5173"],
    publicBaseUrl: "http://localhost:3000/",
    production: false,
  });
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

describe("local test payment provider", () => {
  it("refuses to exist in production", () => {
    expect(() =>
      createLocalTestBilling({
        store: createMemoryBillingStore(),
        allowedReturnOrigins: [],
        publicBaseUrl: "https://spell.example.com",
        production: true,
      }),
    ).toThrow(/production/);
  });

  it("saves a test card through the local checkout page and redirects back", async () => {
    const { store, billing, user } = setup();
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
    // A link is used once.
    expect(billing.routes.checkoutPage(session).status).toBe(404);
  });

  it("refuses return URLs outside the allowlist and unknown test cards", async () => {
    const { billing, user } = setup();
    const error = await caught(
      billing.createCheckoutUrl(user, {
        successUrl: "https://evil.example.com/",
        cancelUrl: "http://localhost:5173/",
      }),
    );
    expect(error.code).toBe("VALIDATION_ERROR");
    expect((await caught(billing.routes.attach("user-1", "pm_card_real_one"))).code).toBe("VALIDATION_ERROR");
  });

  it("pm_card_visa: the charge is authorized, captured on success and released on failure", async () => {
    const { store, billing, user, spell } = setup();
    await billing.routes.attach("user-1", "pm_card_visa");

    const first = await billing.charge({ executionId: "exe-1", user, spell, price: spell.price });
    expect(first).toMatchObject({ amount: 100, currency: "usd" });
    expect(await billing.charge({ executionId: "exe-1", user, spell, price: spell.price })).toEqual(first);
    await expect(billing.settle(first, "succeeded")).resolves.toEqual({ refunded: false });
    expect((await store.findRecordByPaymentIntent(first.paymentIntentId))?.status).toBe("succeeded");

    const second = await billing.charge({ executionId: "exe-2", user, spell, price: spell.price });
    await expect(billing.settle(second, "failed")).resolves.toEqual({ refunded: true });
    expect((await store.findRecordByPaymentIntent(second.paymentIntentId))?.status).toBe("canceled");
  });

  it("pm_card_chargeDeclined: BILLING_FAILED with generic_decline", async () => {
    const { store, billing, user, spell } = setup();
    await billing.routes.attach("user-1", "pm_card_chargeDeclined");

    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));

    expect(error.code).toBe("BILLING_FAILED");
    expect(error.details.declineCode).toBe("generic_decline");
    expect([...store.records.values()].map((record) => record.status)).toEqual(["failed"]);
  });

  it("pm_card_authenticationRequired: PAYMENT_REQUIRES_ACTION, then authenticate and resume", async () => {
    const { billing, user, spell } = setup();
    await billing.routes.attach("user-1", "pm_card_authenticationRequired");

    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));
    expect(error.code).toBe("PAYMENT_REQUIRES_ACTION");
    const paymentIntentId = String(error.details.paymentIntentId);
    expect(error.details.clientSecret).toBe(`${paymentIntentId}_secret_local`);

    expect(await billing.resumePayment(user, paymentIntentId)).toEqual({
      executionId: "exe-1",
      status: "requires_action",
      charge: null,
    });
    expect((await caught(billing.routes.authenticate("user-2", paymentIntentId))).code).toBe("FORBIDDEN");
    await billing.routes.authenticate("user-1", paymentIntentId);
    const resumed = await billing.resumePayment(user, paymentIntentId);
    expect(resumed).toMatchObject({ executionId: "exe-1", status: "succeeded", charge: { paymentIntentId } });
    expect((await caught(billing.resumePayment(userRecord("user-2"), paymentIntentId))).code).toBe(
      "FORBIDDEN",
    );
    expect((await caught(billing.resumePayment(user, "pi_local_nope"))).code).toBe("NOT_FOUND");
  });

  it("answers PAYMENT_METHOD_REQUIRED before a card is saved", async () => {
    const { billing, user, spell } = setup();
    const error = await caught(billing.charge({ executionId: "exe-1", user, spell, price: spell.price }));
    expect(error.code).toBe("PAYMENT_METHOD_REQUIRED");
  });
});
