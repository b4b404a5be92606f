import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterAll(() => s?.close());

describe("priced execute through Stripe", () => {
  it("charges the saved card off-session, runs the spell, then captures", async () => {
    const alice = await s.h.user("alice");
    await s.saveCard(alice);
    const customer = await s.h.testDb.database.billing.getCustomer(alice.id);
    expect(customer).toEqual({
      stripeCustomerId: expect.stringMatching(/^cus_/),
      defaultPaymentMethodId: "pm_card_visa",
    });
    // The webhook also made the card the default Stripe shows in the Billing Portal.
    expect(s.fake.requestsTo(`/v1/customers/${customer.stripeCustomerId}`, "POST")[0]?.body).toMatchObject({
      "invoice_settings[default_payment_method]": "pm_card_visa",
    });

    const before = s.fake.requests.length;
    const runsBefore = s.upstream.runs();
    const response = await s.execute(alice, s.countedSlug, { a: 1 });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      ok: true,
      spell: { slug: s.countedSlug, runtime: "api" },
      output: { input: { a: 1 } },
      billing: { charged: true, amount: 75, currency: "usd", billingRecordId: expect.any(String) },
    });
    expect(s.upstream.runs()).toBe(runsBefore + 1);

    const { executionId } = response.body;
    const spell = await s.h.testDb.database.prisma.spell.findUniqueOrThrow({
      where: { slug: s.countedSlug },
    });
    const sent = s.fake.requests.slice(before);
    expect(sent.map((r) => `${r.method} ${r.path.replace(/pi_\w+/, "pi_*")}`)).toEqual([
      "POST /v1/payment_intents",
      "POST /v1/payment_intents/pi_*/capture",
    ]);
    const [create, capture] = sent;
    expect(create?.body).toEqual({
      amount: "75",
      currency: "usd",
      customer: customer.stripeCustomerId,
      payment_method: "pm_card_visa",
      confirm: "true",
      off_session: "true",
      capture_method: "manual",
      description: `Spell ${s.countedSlug}`,
      "metadata[user_id]": alice.id,
      "metadata[spell_id]": spell.id,
      "metadata[execution_id]": executionId,
    });
    expect(create?.idempotencyKey).toBe(`pi-create:${executionId}`);
    const intentId = capture?.path.split("/")[3] ?? "";
    expect(capture?.idempotencyKey).toBe(`pi-capture:${intentId}`);

    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(async () => (await s.h.testDb.database.billing.findRecordByPaymentIntent(intentId))?.status)
      .toBe("succeeded");
    const record = await s.h.testDb.database.billing.findRecordByPaymentIntent(intentId);
    expect(record).toMatchObject({
      id: response.body.billing.billingRecordId,
      userId: alice.id,
      spellId: spell.id,
      executionId,
      amount: 75,
      currency: "usd",
      status: "succeeded",
    });
  });

  it("estimate quotes exactly what execute charges, and whether a card is on file", async () => {
    const bob = await s.h.user("bob");
    const without = await s.h.call("POST", "/api/spell/estimate", {
      token: bob.token,
      body: { spell: s.countedSlug },
    });
    expect(without.status).toBe(200);
    expect(without.body).toMatchObject({
      price: { amount: 75, currency: "usd" },
      paymentMethodRequired: true,
      paymentMethodOnFile: false,
    });

    await s.saveCard(bob);
    const withCard = await s.h.call("POST", "/api/spell/estimate", {
      token: bob.token,
      body: { spell: s.countedSlug },
    });
    expect(withCard.body).toMatchObject({ paymentMethodOnFile: true, price: without.body.price });

    const executed = await s.execute(bob, s.countedSlug);
    expect(executed.status).toBe(200);
    expect({ amount: executed.body.billing.amount, currency: executed.body.billing.currency }).toEqual(
      withCard.body.price,
    );
  });

  it("checkout-url and portal-url answer Stripe's URLs for return URLs on the allowlist only", async () => {
    const carol = await s.h.user("carol");
    const checkout = await s.h.call("POST", "/api/billing/checkout-url", {
      token: carol.token,
      body: { successUrl: "https://app.spell.test/ok", cancelUrl: "https://app.spell.test/no" },
    });
    expect(checkout.status).toBe(200);
    expect(checkout.body).toEqual({
      ok: true,
      url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//),
    });
    const session = s.fake.requestsTo("/v1/checkout/sessions", "POST").at(-1);
    expect(session?.body).toMatchObject({ mode: "setup", "metadata[user_id]": carol.id });

    const portal = await s.h.call("POST", "/api/billing/portal-url", {
      token: carol.token,
      body: { returnUrl: "https://app.spell.test/account" },
    });
    expect(portal.status).toBe(200);
    expect(portal.body.url).toMatch(/^https:\/\/billing\.stripe\.com\//);

    const elsewhere = await s.h.call("POST", "/api/billing/portal-url", {
      token: carol.token,
      body: { returnUrl: "https://evil.example/steal" },
    });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error).toMatchObject({ code: "VALIDATION_ERROR", details: { field: "returnUrl" } });
  });
});

describe("payment that needs the customer (3-D Secure)", () => {
  it("answers 402 PAYMENT_REQUIRES_ACTION, then confirm-intent runs it exactly once", async () => {
    const dana = await s.h.user("dana");
    await s.saveCard(dana, "pm_card_authenticationRequired");
    const runsBefore = s.upstream.runs();

    const pending = await s.execute(dana, s.countedSlug, { step: "3ds" });
    expect(pending.status).toBe(402);
    expect(pending.body.error).toMatchObject({
      code: "PAYMENT_REQUIRES_ACTION",
      details: {
        paymentIntentId: expect.stringMatching(/^pi_/),
        clientSecret: expect.stringMatching(/_secret_/),
      },
    });
    expect(s.upstream.runs()).toBe(runsBefore);
    const { paymentIntentId } = pending.body.error.details;
    const confirm = (token: string, id = paymentIntentId) =>
      s.h.call("POST", "/api/billing/confirm-intent", { token, body: { paymentIntentId: id } });

    // Before the customer authenticates, nothing runs.
    const early = await confirm(dana.token);
    expect(early.status).toBe(402);
    expect(early.body.error.code).toBe("PAYMENT_REQUIRES_ACTION");
    expect(s.upstream.runs()).toBe(runsBefore);

    const eve = await s.h.user("eve");
    const foreign = await confirm(eve.token);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("FORBIDDEN");

    const unknown = await confirm(dana.token, "pi_doesnotexist000");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("NOT_FOUND");

    s.fake.completeAuthentication(paymentIntentId);
    const done = await confirm(dana.token);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      ok: true,
      output: { input: { step: "3ds" } },
      billing: { charged: true, amount: 75, currency: "usd" },
    });
    expect(s.upstream.runs()).toBe(runsBefore + 1);

    const again = await confirm(dana.token);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(done.body);
    expect(s.upstream.runs()).toBe(runsBefore + 1);
    expect(s.fake.requestsTo(`/v1/payment_intents/${paymentIntentId}/capture`, "POST")).toHaveLength(1);
    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(() => s.h.testDb.database.billing.findRecordByPaymentIntent(paymentIntentId))
      .toMatchObject({ status: "succeeded", executionId: done.body.executionId });
  });
});
