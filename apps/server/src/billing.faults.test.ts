import type { FailureKind } from "@spell/billing/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";
import { reconcile } from "./testutil/reconcile.ts";

/**
 * Fault injection in front of the simulated Stripe (the `stripe` SDK's HTTP answered through msw):
 * each failure on PaymentIntent creation and on capture, then the money invariants checked against
 * the fake's final state. A caller who retries with the same key is charged once, for one run; a
 * capture Stripe did not confirm is carried out by the settlement worker (pg-boss on a real Postgres).
 */

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterEach(() => {
  s.fake.state.failures.length = 0;
});
afterAll(() => s?.close());

const CREATE = "/v1/payment_intents";
const CAPTURE = "/v1/payment_intents/*/capture";

const check = () =>
  reconcile({
    database: s.h.testDb.database,
    stripe: s.fake.state,
    runs: s.upstream.runs(),
    timeoutMs: 30_000,
  });

/** Executes with one key until it is answered 200 (a caller retrying a 503), at most `tries` times. */
async function executeUntilAnswered(key: string, token: { id: string; token: string }, tries = 3) {
  const statuses: number[] = [];
  for (let i = 0; i < tries; i++) {
    const response = await s.execute(token, s.countedSlug, { key }, key);
    statuses.push(response.status);
    if (response.status === 200) return { response, statuses };
    expect(response.status, JSON.stringify(response.body)).toBe(503);
    expect(response.body.error.details).toMatchObject({ retryable: true });
  }
  throw new Error(`${key}: never answered 200 (${statuses.join(", ")})`);
}

const intentsOf = (userId: string) =>
  [...s.fake.state.paymentIntents.values()].filter(
    (intent) => (intent.metadata as Record<string, string>).user_id === userId,
  );

describe("faults on PaymentIntent creation", () => {
  it.each<[FailureKind, number]>([
    ["500", 1],
    ["500", 3],
    ["429", 1],
    ["network", 1],
    ["network", 3],
    ["network-after-commit", 1],
    ["network-after-commit", 3],
    ["hang", 1],
  ])(
    "%s ×%d: at most one authorization, one run and one capture for the key; reconciliation holds",
    async (kind, times) => {
      const caller = await s.h.user(`create-${kind}`);
      await s.saveCard(caller);
      const runsBefore = s.upstream.runs();
      s.fake.failNext(CREATE, kind, times);

      const { response } = await executeUntilAnswered(`create-${kind}-${times}`, caller);
      expect(response.body.billing).toMatchObject({ charged: true, status: "charged", amount: 75 });
      expect(s.upstream.runs()).toBe(runsBefore + 1);
      const intents = intentsOf(caller.id);
      expect(intents).toHaveLength(1);
      expect(intents[0]?.status).toBe("succeeded");
      // Every attempt, the SDK's retries and the caller's, used the execution's one key.
      const keys = s.fake
        .requestsTo(CREATE, "POST")
        .filter((request) => request.body["metadata[user_id]"] === caller.id)
        .map((request) => request.idempotencyKey);
      expect(new Set(keys)).toEqual(new Set([`pi-create:${response.body.executionId}`]));
      await check();
    },
    40_000,
  );
});

describe("faults on capture", () => {
  it.each<[FailureKind, number]>([
    ["500", 1],
    ["429", 1],
    ["network", 1],
    ["network-after-commit", 1],
    ["500", 3],
    ["network-after-commit", 3],
    ["hang", 1],
  ])(
    "%s ×%d: the answer is delivered, the capture happens exactly once (now or by the worker); reconciliation holds",
    async (kind, times) => {
      const caller = await s.h.user(`capture-${kind}`);
      await s.saveCard(caller);
      s.fake.failNext(CAPTURE, kind, times);

      const key = `capture-${kind}-${times}`;
      const response = await s.execute(caller, s.countedSlug, { key }, key);
      expect(response.status).toBe(200);
      expect(response.body.output).toMatchObject({ input: { key } });
      // Charged now, or pending and captured by the worker: never "not charged" while Stripe holds it.
      expect(["charged", "pending"]).toContain(response.body.billing.status);
      await check();
      const [intent] = intentsOf(caller.id);
      expect(intent?.status).toBe("succeeded");
      const replay = await s.execute(caller, s.countedSlug, { key }, key);
      expect(replay.body.billing).toMatchObject({ charged: true, status: "charged" });
    },
    40_000,
  );
});

describe("the settlement worker (regression: a capture Stripe did not confirm stayed pending, charged: false)", () => {
  it("capture fails synchronously → the worker captures later → GET /api/me and a replay say charged", async () => {
    const caller = await s.h.user("worker");
    await s.saveCard(caller);
    // The first try and both SDK retries of the synchronous capture fail.
    s.fake.failNext(CAPTURE, "500", 3);
    const first = await s.execute(caller, s.countedSlug, { w: 1 }, "worker-key");
    expect(first.status).toBe(200);
    expect(first.body.billing).toMatchObject({
      charged: false,
      status: "pending",
      pending: true,
      amount: 75,
    });

    const worker = s.h.billing.settlementWorker;
    expect(worker?.engine).toBe(process.env.DATABASE_URL ? "pg-boss" : "in-process");
    await check();
    const [intent] = intentsOf(caller.id);
    expect(intent?.status).toBe("succeeded");
    // The worker read Stripe first, then captured under the same idempotency key as the failed tries.
    const captures = s.fake.requestsTo(`/v1/payment_intents/${intent?.id}/capture`, "POST");
    expect(captures.length).toBeGreaterThanOrEqual(4);
    expect(new Set(captures.map((c) => c.idempotencyKey))).toEqual(new Set([`pi-capture:${intent?.id}`]));
    const settlement = await s.h.testDb.database.billing.getSettlement(String(intent?.id));
    expect(settlement).toMatchObject({ status: "done", result: "succeeded", action: "capture" });
    expect(settlement?.attempts).toBeGreaterThanOrEqual(1);

    const me = await s.h.call("GET", "/api/me", { token: caller.token });
    expect(me.status).toBe(200);
    expect(me.body.usage.totalCharged).toEqual([{ currency: "usd", amount: 75 }]);
    const replay = await s.execute(caller, s.countedSlug, { w: 1 }, "worker-key");
    expect(replay.status).toBe(200);
    expect(replay.body.executionId).toBe(first.body.executionId);
    expect(replay.body.billing).toMatchObject({ charged: true, status: "charged", amount: 75 });
    expect(replay.body.billing.pending).toBeUndefined();
  }, 40_000);
});
