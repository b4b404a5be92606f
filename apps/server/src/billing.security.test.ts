import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { concurrently, type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterAll(() => s?.close());

describe("refused before any request to Stripe", () => {
  it("a banned user with a saved card: 403 USER_BANNED, zero Stripe requests, nothing run", async () => {
    const mallory = await s.h.user("mallory");
    await s.saveCard(mallory);
    const admin = await s.h.admin();
    const ban = await s.h.call("POST", "/api/admin/ban", {
      token: admin.token,
      body: { userId: mallory.id, reason: "chargebacks" },
    });
    expect(ban.status).toBe(200);

    const before = s.fake.requests.length;
    const runsBefore = s.upstream.runs();
    const response = await s.execute(mallory, s.countedSlug);
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("USER_BANNED");
    const confirm = await s.h.call("POST", "/api/billing/confirm-intent", {
      token: mallory.token,
      body: { paymentIntentId: "pi_anything" },
    });
    expect(confirm.status).toBe(403);
    expect(s.fake.requests.length).toBe(before);
    expect(s.upstream.runs()).toBe(runsBefore);
  });

  it("an unauthenticated caller: 401, zero Stripe requests", async () => {
    const before = s.fake.requests.length;
    for (const headers of [{}, { authorization: "Bearer not-a-jwt" }] as Record<string, string>[]) {
      const response = await s.h.call("POST", "/api/spell/execute", {
        body: { spell: s.countedSlug, input: {} },
        headers,
      });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe("UNAUTHORIZED");
    }
    const checkout = await s.h.call("POST", "/api/billing/checkout-url", {
      body: { successUrl: "https://app.spell.test/a", cancelUrl: "https://app.spell.test/b" },
    });
    expect(checkout.status).toBe(401);
    expect(s.fake.requests.length).toBe(before);
  });

  it("a private priced spell of someone else: 403 VISIBILITY_DENIED, zero Stripe requests", async () => {
    const owner = await s.h.user("owner");
    await s.h.publish({
      slug: "private-paid@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "private",
      ownerId: owner.id,
      priceAmount: 100,
      currency: "usd",
    });
    const nosy = await s.h.user("nosy");
    await s.saveCard(nosy);

    const before = s.fake.requests.length;
    const response = await s.execute(nosy, "private-paid@v1");
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("VISIBILITY_DENIED");
    expect(s.fake.requests.length).toBe(before);
  });
});

describe("idempotency", () => {
  it("50 concurrent executes with one idempotency key: one PaymentIntent, one run, one answer", async () => {
    const olga = await s.h.user("olga");
    await s.saveCard(olga);
    const createsBefore = s.intentCreates();
    const runsBefore = s.upstream.runs();

    const responses = await concurrently(50, () => s.execute(olga, s.countedSlug, { n: 1 }, "olga-key-1"));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(responses.map((r) => r.body.executionId)).size).toBe(1);
    expect(responses.every((r) => r.body.billing.charged === true)).toBe(true);

    expect(s.intentCreates() - createsBefore).toBe(1);
    expect(s.upstream.runs() - runsBefore).toBe(1);
    expect(s.fake.requestsTo("/v1/payment_intents", "POST").at(-1)?.idempotencyKey).toBe(
      `pi-create:${responses[0]?.body.executionId}`,
    );
    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(() => s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId: olga.id } }))
      .toEqual([expect.objectContaining({ status: "succeeded", amount: 75 })]);
    const records = await s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId: olga.id } });
    const intentId = records[0]?.paymentIntentId ?? "";
    expect(s.fake.requestsTo(`/v1/payment_intents/${intentId}/capture`, "POST")).toHaveLength(1);
  });
});
