import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Caller, type Harness, startHarness } from "./testutil/harness.ts";

/**
 * The quick start's billing: the LOCAL TEST provider (the real Stripe adapter against the simulated
 * Stripe the server starts on loopback), the whole app over HTTP on a real database.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { SPELL_BILLING: "local" } });
});
afterAll(() => h?.close());

const attach = (caller: Caller, paymentMethod: string) =>
  h.call("POST", "/api/billing/local/attach", { token: caller.token, body: { paymentMethod } });
const execute = (caller: Caller, input: unknown = { hi: 1 }) =>
  h.call("POST", "/api/spell/execute", { token: caller.token, body: { spell: "echo-paid@v1", input } });

describe("LOCAL TEST payment provider", () => {
  it("seeds the priced demo echo-paid@v1, labelled as charged through the local test provider", async () => {
    const user = await h.user();
    const list = await h.call("GET", "/api/spells", { token: user.token });
    const demo = list.body.spells.find((spell: { slug: string }) => spell.slug === "echo-paid@v1");
    expect(demo).toMatchObject({ price: { amount: 50, currency: "usd" }, visibility: "public" });
    expect(demo.description).toContain("LOCAL TEST");
  });

  it("pm_card_visa: the priced execute answers 200 charged", async () => {
    const user = await h.user();
    const noCard = await execute(user);
    expect(noCard.status).toBe(402);
    expect(noCard.body.error.code).toBe("PAYMENT_METHOD_REQUIRED");

    const saved = await attach(user, "pm_card_visa");
    expect(saved.status).toBe(200);
    expect(saved.body).toEqual({ ok: true, paymentMethod: "pm_card_visa" });

    const response = await execute(user);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      output: { hi: 1 },
      billing: { charged: true, amount: 50, currency: "usd", billingRecordId: expect.any(String) },
    });
    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(
        async () =>
          (await h.testDb.database.prisma.billingRecord.findMany({ where: { userId: user.id } }))[0],
      )
      .toMatchObject({ status: "succeeded", executionId: response.body.executionId });
  });

  it("pm_card_chargeDeclined: 402 BILLING_FAILED generic_decline, nothing recorded as run", async () => {
    const user = await h.user();
    await attach(user, "pm_card_chargeDeclined");
    const response = await execute(user);
    expect(response.status).toBe(402);
    expect(response.body.error).toMatchObject({
      code: "BILLING_FAILED",
      details: { declineCode: "generic_decline" },
    });
    const executions = await h.testDb.database.prisma.execution.findMany({ where: { userId: user.id } });
    expect(executions).toEqual([expect.objectContaining({ status: "failed", errorCode: "BILLING_FAILED" })]);
  });

  it("pm_card_authenticationRequired: 402, then authenticate and confirm-intent answer 200 once", async () => {
    const user = await h.user();
    await attach(user, "pm_card_authenticationRequired");
    const pending = await execute(user, { three: "ds" });
    expect(pending.status).toBe(402);
    expect(pending.body.error).toMatchObject({
      code: "PAYMENT_REQUIRES_ACTION",
      details: { paymentIntentId: expect.stringMatching(/^pi_local_/), clientSecret: expect.any(String) },
    });
    // The CLI's hint names the authenticate route only when the error does.
    expect(pending.body.error.details.hint).toContain("/api/billing/local/authenticate");
    const { paymentIntentId } = pending.body.error.details;
    const confirm = () =>
      h.call("POST", "/api/billing/confirm-intent", { token: user.token, body: { paymentIntentId } });

    expect((await confirm()).status).toBe(402);
    const other = await h.user();
    const foreign = await h.call("POST", "/api/billing/local/authenticate", {
      token: other.token,
      body: { paymentIntentId },
    });
    expect(foreign.status).toBe(403);

    const authenticated = await h.call("POST", "/api/billing/local/authenticate", {
      token: user.token,
      body: { paymentIntentId },
    });
    expect(authenticated.status).toBe(200);
    expect(authenticated.body).toEqual({ ok: true, paymentIntentId });

    const done = await confirm();
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ output: { three: "ds" }, billing: { charged: true, amount: 50 } });
    const again = await confirm();
    expect(again.body).toEqual(done.body);
  });

  it("the browser checkout: checkout-url → local page → form post → 303 back, card saved", async () => {
    const user = await h.user();
    const checkout = await h.call("POST", "/api/billing/checkout-url", {
      token: user.token,
      body: {
        successUrl: `${h.url}/billing/return?status=success`,
        cancelUrl: `${h.url}/billing/return?status=cancel`,
      },
    });
    expect(checkout.status).toBe(200);
    expect(checkout.body.url).toMatch(new RegExp(`^${h.url}/local-billing/checkout\\?session=cs_local_`));

    const page = await fetch(checkout.body.url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("LOCAL TEST PAYMENT PROVIDER");
    const session = new URL(checkout.body.url).searchParams.get("session") ?? "";

    const posted = await fetch(`${h.url}/local-billing/checkout`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ session, paymentMethod: "pm_card_visa" }).toString(),
      redirect: "manual",
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get("location")).toBe(`${h.url}/billing/return?status=success`);
    expect((await h.testDb.database.billing.getCustomer(user.id)).defaultPaymentMethodId).toBe(
      "pm_card_visa",
    );

    const back = await fetch(posted.headers.get("location") ?? "");
    expect(back.status).toBe(200);
    expect(await back.text()).toContain("go back to your terminal");
  });

  it("the local routes need a valid, not banned caller and a known test card", async () => {
    const anonymous = await h.call("POST", "/api/billing/local/attach", {
      body: { paymentMethod: "pm_card_visa" },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("UNAUTHORIZED");

    const user = await h.user();
    const unknownCard = await attach(user, "pm_card_real_1234");
    expect(unknownCard.status).toBe(400);
    expect(unknownCard.body.error.code).toBe("VALIDATION_ERROR");
    const missing = await h.call("POST", "/api/billing/local/attach", { token: user.token, body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe("VALIDATION_ERROR");
    const notJson = await h.call("POST", "/api/billing/local/attach", {
      token: user.token,
      body: "paymentMethod=pm_card_visa",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(notJson.status).toBe(415);

    const admin = await h.admin();
    await h.call("POST", "/api/admin/ban", { token: admin.token, body: { userId: user.id, reason: "test" } });
    const banned = await attach(user, "pm_card_visa");
    expect(banned.status).toBe(403);
    expect(banned.body.error.code).toBe("USER_BANNED");
  });

  it("the browser portal: portal-url → local page → form post → 303 back, default card changed", async () => {
    const user = await h.user();
    await attach(user, "pm_card_visa");
    const portal = await h.call("POST", "/api/billing/portal-url", {
      token: user.token,
      body: { returnUrl: `${h.url}/billing/return?status=success` },
    });
    expect(portal.status).toBe(200);
    expect(portal.body.url).toMatch(new RegExp(`^${h.url}/local-billing/portal\\?session=bps_local_`));
    const page = await fetch(portal.body.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("pm_card_visa");

    const session = new URL(portal.body.url).searchParams.get("session") ?? "";
    const posted = await fetch(`${h.url}/local-billing/portal`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ session, paymentMethod: "pm_card_chargeDeclined" }).toString(),
      redirect: "manual",
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get("location")).toBe(`${h.url}/billing/return?status=success`);
    expect((await h.testDb.database.billing.getCustomer(user.id)).defaultPaymentMethodId).toBe(
      "pm_card_chargeDeclined",
    );
    expect((await execute(user)).body.error.code).toBe("BILLING_FAILED");
  });

  it("documents the local routes in the OpenAPI document, generated from their schemas", async () => {
    const doc = (await h.call("GET", "/api/openapi.json")).body;
    const attachDoc = doc.paths["/billing/local/attach"].post;
    expect(attachDoc.security).toEqual([{ bearerAuth: [] }]);
    expect(attachDoc.requestBody.content["application/json"].schema).toMatchObject({
      required: ["paymentMethod"],
      properties: {
        paymentMethod: { enum: expect.arrayContaining(["pm_card_visa", "pm_card_chargeDeclined"]) },
      },
    });
    const authenticateDoc = doc.paths["/billing/local/authenticate"].post;
    expect(authenticateDoc.responses["200"].content["application/json"].schema.required).toEqual([
      "ok",
      "paymentIntentId",
    ]);
    expect(authenticateDoc.responses["403"]).toEqual({
      description: expect.stringContaining("FORBIDDEN"),
      content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
    });
    expect(doc.paths["/billing/webhook"].post.parameters).toEqual([
      expect.objectContaining({ name: "Stripe-Signature", in: "header", required: true }),
    ]);
  });

  it("refuses webhooks over HTTP: the simulated Stripe delivers its events in-process", async () => {
    const response = await h.call("POST", "/api/billing/webhook", {
      body: "{}",
      headers: { "stripe-signature": "t=1,v1=00" },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({
      code: "VALIDATION_ERROR",
      details: { reason: "local-test-provider" },
    });
  });
});
