import type { FailureKind } from "@spell/billing/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterEach(() => {
  s.upstream.failing = false;
  s.fake.state.failures.length = 0;
});
afterAll(() => s?.close());

const records = (userId: string) => s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId } });
const executions = (userId: string) => s.h.testDb.database.prisma.execution.findMany({ where: { userId } });

describe("declined and missing payment methods", () => {
  it("a declined card answers 402 BILLING_FAILED with the decline code; nothing runs", async () => {
    const frank = await s.h.user("frank");
    await s.saveCard(frank, "pm_card_chargeDeclined");
    const runsBefore = s.upstream.runs();

    const response = await s.execute(frank, s.countedSlug);
    expect(response.status).toBe(402);
    expect(response.body.error).toMatchObject({
      code: "BILLING_FAILED",
      details: { declineCode: "generic_decline", billingRecordId: expect.any(String) },
    });
    expect(s.upstream.runs()).toBe(runsBefore);
    expect(await records(frank.id)).toEqual([
      expect.objectContaining({ status: "failed", failureCode: "generic_decline", amount: 75 }),
    ]);
    expect(await executions(frank.id)).toEqual([
      expect.objectContaining({ status: "failed", errorCode: "BILLING_FAILED" }),
    ]);
  });

  it("no saved card answers 402 PAYMENT_METHOD_REQUIRED with the checkout hint, without calling Stripe", async () => {
    const gina = await s.h.user("gina");
    const before = s.fake.requests.length;
    const response = await s.execute(gina, s.countedSlug);
    expect(response.status).toBe(402);
    expect(response.body.error).toMatchObject({
      code: "PAYMENT_METHOD_REQUIRED",
      details: { hint: "POST /api/billing/checkout-url" },
    });
    expect(s.fake.requests.length).toBe(before);
  });
});

describe("Stripe failing", () => {
  it.each<[FailureKind, string]>([
    ["500", "a 500 before Stripe processed it"],
    ["network", "a dropped connection before Stripe processed it"],
    ["network-after-commit", "a dropped connection after Stripe created the intent"],
  ])("%s: the SDK retries with the same key and the customer is charged once (%s)", async (kind) => {
    const hana = await s.h.user("hana");
    await s.saveCard(hana);
    const createsBefore = s.intentCreates();
    const runsBefore = s.upstream.runs();
    s.fake.failNext("/v1/payment_intents", kind);

    const response = await s.execute(hana, s.countedSlug);
    expect(response.status).toBe(200);
    expect(response.body.billing).toMatchObject({ charged: true, amount: 75 });
    expect(s.upstream.runs()).toBe(runsBefore + 1);

    const attempts = s.fake.requestsTo("/v1/payment_intents", "POST").slice(createsBefore);
    expect(attempts).toHaveLength(2);
    expect(new Set(attempts.map((a) => a.idempotencyKey))).toEqual(
      new Set([`pi-create:${response.body.executionId}`]),
    );
    const intents = [...s.fake.state.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).user_id === hana.id,
    );
    expect(intents).toHaveLength(1);
    expect(intents[0]?.status).toBe("succeeded");
    expect(s.fake.requestsTo(`/v1/payment_intents/${intents[0]?.id}/capture`, "POST")).toHaveLength(1);
    // The record's settled status is written just after the answer (Spec §13).
    await expect.poll(() => records(hana.id)).toEqual([expect.objectContaining({ status: "succeeded" })]);
  });

  it("Stripe down through every retry: 503 SERVICE_UNAVAILABLE, nothing charged, nothing run", async () => {
    const ivan = await s.h.user("ivan");
    await s.saveCard(ivan);
    const runsBefore = s.upstream.runs();
    s.fake.failNext("/v1/payment_intents", "500", 3);

    const response = await s.execute(ivan, s.countedSlug);
    expect(response.status).toBe(503);
    expect(response.body.error).toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      details: { provider: "stripe" },
    });
    expect(s.upstream.runs()).toBe(runsBefore);
    expect(await records(ivan.id)).toEqual([]);
  });
});

describe("retrying after Stripe was unreachable", () => {
  it("a retry with the same Idempotency-Key charges once under the first execution id", async () => {
    const jan = await s.h.user("jan");
    await s.saveCard(jan);
    const runsBefore = s.upstream.runs();
    // The SDK's first try and both of its retries never reach Stripe.
    s.fake.failNext("/v1/payment_intents", "network", 3);
    const first = await s.execute(jan, s.countedSlug, {}, "retry-after-outage");
    expect(first.status).toBe(503);
    expect(first.body.error.details).toMatchObject({ retryable: true });
    expect(s.upstream.runs()).toBe(runsBefore);

    const retried = await s.execute(jan, s.countedSlug, {}, "retry-after-outage");
    expect(retried.status).toBe(200);
    expect(retried.body.billing).toMatchObject({ charged: true });
    expect(s.upstream.runs()).toBe(runsBefore + 1);
    const [execution] = await executions(jan.id);
    expect(retried.body.executionId).toBe(execution?.id);
    const creates = s.fake
      .requestsTo("/v1/payment_intents", "POST")
      .filter((request) => request.idempotencyKey === `pi-create:${execution?.id}`);
    expect(creates.length).toBeGreaterThanOrEqual(1);
    const intents = [...s.fake.state.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).user_id === jan.id,
    );
    expect(intents).toHaveLength(1);

    const replay = await s.execute(jan, s.countedSlug, {}, "retry-after-outage");
    expect(replay.body).toEqual(retried.body);
    expect(s.upstream.runs()).toBe(runsBefore + 1);
  });
});

describe("the user never pays for a failed run", () => {
  it("a run failing after payment cancels the authorization and says so in details.billing", async () => {
    const jade = await s.h.user("jade");
    await s.saveCard(jade);
    s.upstream.failing = true;

    const response = await s.execute(jade, s.countedSlug);
    expect(response.status).toBe(502);
    expect(response.body.error).toMatchObject({
      code: "RUNTIME_ERROR",
      details: {
        billing: {
          charged: false,
          refunded: true,
          amount: 75,
          currency: "usd",
          billingRecordId: expect.any(String),
        },
      },
    });
    const [record] = await records(jade.id);
    expect(record).toMatchObject({
      status: "canceled",
      id: response.body.error.details.billing.billingRecordId,
    });
    const intentId = record?.paymentIntentId ?? "";
    const cancels = s.fake.requestsTo(`/v1/payment_intents/${intentId}/cancel`, "POST");
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.idempotencyKey).toBe(`pi-cancel:${intentId}`);
    expect(s.fake.requestsTo(`/v1/payment_intents/${intentId}/capture`, "POST")).toHaveLength(0);
    expect(s.fake.state.paymentIntents.get(intentId)?.status).toBe("canceled");
  });
});

describe("prices", () => {
  it.each([
    [49, "usd", 50],
    [29, "gbp", 30],
  ])(
    "publishing %i %s is refused with 422 PRICE_BELOW_MINIMUM (minimum %i)",
    async (amount, currency, minimum) => {
      const admin = await s.h.admin();
      const response = await s.h.call("POST", "/api/admin/spells", {
        token: admin.token,
        body: {
          slug: `cheap-${currency}@v1`,
          runtime: "builtin",
          artifact: { builtin: "echo" },
          visibility: "public",
          priceAmount: amount,
          currency,
        },
      });
      expect(response.status).toBe(422);
      expect(response.body.error).toMatchObject({
        code: "PRICE_BELOW_MINIMUM",
        details: { currency, minimum, amount },
      });
    },
  );
});
