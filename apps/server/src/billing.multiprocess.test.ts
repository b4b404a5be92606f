import { type FakeStripeServer, startFakeStripeServer } from "@spell/billing/testing";
import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RETURN_ORIGIN, saveCardBySetupIntent, WEBHOOK_SECRET } from "./testutil/billing.ts";
import { signToken } from "./testutil/harness.ts";
import { call, type JsonResponse } from "./testutil/http.ts";
import { type ApiProcessGroup, createApiProcessGroup } from "./testutil/processes.ts";
import { reconcile } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * Two real API processes (`src/main.ts`, as `pnpm start` runs it) on one Postgres, both pointed at
 * one fake Stripe served over loopback HTTP through STRIPE_API_BASE: the only way to see that the
 * idempotency key holds across processes, where no in-process lock can help.
 */

let testDb: TestDatabase;
let stripe: FakeStripeServer;
let group: ApiProcessGroup;
const urls: string[] = [];

async function startApi(): Promise<string> {
  const started = await group.start({
    DATABASE_URL: testDb.url,
    SPELL_SIGNING_KEY: "signing-key-for-api-spells-0123456789",
    SPELL_WASM_WORKERS: "1",
    STRIPE_SECRET_KEY: "sk_test_multiprocess",
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    SPELL_BILLING_RETURN_ORIGINS: RETURN_ORIGIN,
  });
  return started.url;
}

// The embedded PGlite is one session behind a socket: two processes on it would share transactions and
// prepared statements, proving nothing about two processes on Postgres. So this file runs only where a
// real server is named (CI always sets DATABASE_URL; `.ci/run` creates the database).
const serverUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  if (!serverUrl) return;
  testDb = await createTestDatabase({ url: serverUrl });
  stripe = await startFakeStripeServer();
  group = await createApiProcessGroup("spell-billing-mp-");
  // One after the other: both would otherwise seed the same demo spells at the same moment.
  urls.push(await startApi());
  urls.push(await startApi());
}, 90_000);

afterAll(async () => {
  await group?.close();
  await stripe?.close();
  await testDb?.drop();
}, 30_000);

/** Saves a card the way Stripe reports it: Customer made by process A, the webhook handled by B. */
function saveCard(userId: string, token: string): Promise<void> {
  const [a = "", b = ""] = urls;
  return saveCardBySetupIntent({
    database: testDb.database,
    caller: { id: userId, token },
    checkoutUrl: a,
    webhookUrl: b,
  });
}

async function publishPriced(slug: string): Promise<void> {
  const admin = await signToken("admin-mp", { admin: true });
  const published = await call(urls[0] ?? "", "POST", "/api/admin/spells", {
    token: admin,
    body: pricedSpell(slug, 60),
  });
  expect(published.status).toBe(200);
}

const intentsOf = (userId: string) =>
  [...stripe.fake.state.paymentIntents.values()].filter(
    (intent) => (intent.metadata as Record<string, string>).user_id === userId,
  );

describe.runIf(serverUrl)("two API processes on one Postgres (needs DATABASE_URL)", () => {
  it("the same keyed execute sent to both at once makes one PaymentIntent and one run", async () => {
    const [a = "", b = ""] = urls;
    await publishPriced("mp-paid@v1");

    // The card is saved across the two processes: Customer made by A, webhook handled by B.
    const userId = "mp-user";
    const token = await signToken(userId);
    await saveCard(userId, token);

    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(i % 2 === 0 ? a : b, "POST", "/api/spell/execute", {
          token,
          body: { spell: "mp-paid@v1", input: { same: true } },
          headers: { "idempotency-key": "mp-key-1" },
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(responses.map((r) => r.body.executionId)).size).toBe(1);

    const creates = stripe.fake.requestsTo("/v1/payment_intents", "POST");
    expect(creates).toHaveLength(1);
    expect(creates[0]?.idempotencyKey).toBe(`pi-create:${responses[0]?.body.executionId}`);
    expect(stripe.fake.state.paymentIntents.size).toBe(1);
    expect(await testDb.database.prisma.execution.count({ where: { userId } })).toBe(1);
    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(() => testDb.database.prisma.billingRecord.findMany({ where: { userId } }))
      .toEqual([expect.objectContaining({ status: "succeeded", amount: 60 })]);
  }, 30_000);

  it("200 concurrent priced executes over 20 keys, spread over both processes: exactly 20 authorizations, runs and captures", async () => {
    const [a = "", b = ""] = urls;
    await publishPriced("mp-load@v1");
    const userId = "mp-load-user";
    const token = await signToken(userId);
    await saveCard(userId, token);

    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(i % 2 === 0 ? a : b, "POST", "/api/spell/execute", {
          token,
          body: { spell: "mp-load@v1", input: { key: i % 20 } },
          headers: { "idempotency-key": `mp-load-${i % 20}` },
        }),
      ),
    );
    expect(responses.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
    const perKey = new Map<number, Set<string>>();
    responses.forEach((response, i) => {
      const ids = perKey.get(i % 20) ?? new Set<string>();
      ids.add(response.body.executionId);
      perKey.set(i % 20, ids);
      expect(response.body.output).toEqual({ key: i % 20 });
    });
    expect([...perKey.values()].map((ids) => ids.size)).toEqual(Array(20).fill(1));

    const intents = intentsOf(userId);
    expect(intents).toHaveLength(20);
    expect(intents.every((intent) => intent.status === "succeeded")).toBe(true);
    const captures = intents.flatMap((intent) =>
      stripe.fake.requestsTo(`/v1/payment_intents/${intent.id}/capture`, "POST"),
    );
    expect(captures).toHaveLength(20);
    expect(await testDb.database.prisma.execution.count({ where: { userId } })).toBe(20);
    // The record's settled status is written just after the answer (Spec §13).
    await expect
      .poll(async () =>
        (await testDb.database.prisma.billingRecord.findMany({ where: { userId } })).map(
          (record) => record.status,
        ),
      )
      .toEqual(Array(20).fill("succeeded"));
    await reconcile({ database: testDb.database, stripe: stripe.fake.state });
  }, 60_000);

  it("a user banned through the admin API mid-load: no request that starts after the ban committed is run or charged", async () => {
    const [a = "", b = ""] = urls;
    const userId = "mp-banned-user";
    const token = await signToken(userId);
    await saveCard(userId, token);
    const admin = await signToken("admin-mp", { admin: true });

    // The order of events, as this test sees them: each request's start and answer, and the ban's
    // answer (the ban has committed by then).
    interface Sent {
      startedAfterBan: boolean;
      response: JsonResponse;
    }
    const sent: Sent[] = [];
    let banAnswered = false;
    let answeredBeforeBan = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    const loop = async (url: string) => {
      // Bounded: at most 40 requests per loop, and the loops stop 300 ms after the ban is answered.
      for (let i = 0; i < 40 && Date.now() < stopAt; i++) {
        const startedAfterBan = banAnswered;
        const response = await call(url, "POST", "/api/spell/execute", {
          token,
          body: { spell: "mp-load@v1", input: { i } },
        });
        sent.push({ startedAfterBan, response });
        if (!startedAfterBan && response.status === 200) answeredBeforeBan += 1;
      }
    };
    const loops = [a, b, a, b].map(loop);
    const deadline = Date.now() + 20_000;
    while (answeredBeforeBan < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const ban = await call(b, "POST", "/api/admin/ban", {
      token: admin,
      body: { userId, reason: "fraud, mid-load" },
    });
    expect(ban.status).toBe(200);
    banAnswered = true;
    stopAt = Date.now() + 300;
    await Promise.all(loops);

    const after = sent.filter((request) => request.startedAfterBan);
    const before = sent.filter((request) => !request.startedAfterBan);
    expect(after.length).toBeGreaterThan(0);
    expect(before.filter((request) => request.response.status === 200).length).toBeGreaterThanOrEqual(12);
    expect(after.map((request) => request.response.body.error?.code)).toEqual(
      Array(after.length).fill("USER_BANNED"),
    );
    // Every PaymentIntent of the user belongs to a request that started before the ban committed.
    const admittedBefore = new Set(
      before.map((request) => request.response.body.executionId).filter((id) => id !== undefined),
    );
    const intents = intentsOf(userId);
    expect(intents.length).toBeLessThanOrEqual(before.length);
    for (const intent of intents) {
      expect(admittedBefore).toContain((intent.metadata as Record<string, string>).execution_id);
    }
    // A refused request leaves no row behind.
    expect(await testDb.database.prisma.execution.count({ where: { userId } })).toBe(admittedBefore.size);
    await reconcile({ database: testDb.database, stripe: stripe.fake.state });
  }, 60_000);
});
