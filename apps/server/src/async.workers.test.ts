import { type FakeStripeServer, startFakeStripeServer } from "@spell/billing/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CountingUpstream,
  RETURN_ORIGIN,
  saveCardBySetupIntent,
  startCountingUpstream,
  WEBHOOK_SECRET,
} from "./testutil/billing.ts";
import { type Caller, type Harness, startHarness } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { type ApiProcessGroup, createApiProcessGroup } from "./testutil/processes.ts";
import { reconcile } from "./testutil/reconcile.ts";
import { pricedApiSpell, pricedSpell } from "./testutil/spells.ts";

/**
 * Asynchronous runs shared by real worker processes (`src/main.ts`, as `pnpm start` runs it) on one
 * Postgres and one pg-boss queue, with one fake Stripe served over loopback HTTP: 500 priced runs
 * taken by two processes (each runs once, each is captured once), and a process killed (SIGKILL)
 * mid-run (the run ends exactly once: failed `interrupted` by another process, configured only
 * through the recovery settings of the environment, its authorization released, never captured,
 * never run again).
 */

const serverUrl = process.env.DATABASE_URL;
const RUNS = 500;
const STRIPE_KEY = "sk_test_async_workers";
const SIGNING_KEY = "signing-key-for-api-spells-0123456789";

let stripe: FakeStripeServer;
let upstream: CountingUpstream;
let h: Harness;
let group: ApiProcessGroup;
/** The spawned processes' environment. */
let processEnv: Record<string, string>;

beforeAll(async () => {
  if (!serverUrl) return;
  stripe = await startFakeStripeServer();
  upstream = await startCountingUpstream();
  const billingEnv = {
    SPELL_BILLING: "stripe",
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    SPELL_BILLING_RETURN_ORIGINS: RETURN_ORIGIN,
    SPELL_SIGNING_KEY: SIGNING_KEY,
    SPELL_API_ALLOWED_HOSTS: upstream.host,
  };
  // The test's own instance (publishing, cards, reads); its run worker is paused below, so the
  // runs are the spawned processes' work.
  h = await startHarness({ env: billingEnv });
  group = await createApiProcessGroup("spell-async-workers-");
  processEnv = {
    ...billingEnv,
    DATABASE_URL: h.testDb.url,
    SPELL_WASM_WORKERS: "1",
    LOG_LEVEL: "warn",
  };
  // One after the other: both would otherwise seed the demo spells at the same moment.
  await group.start(processEnv);
  await group.start(processEnv);
  await h.runWorker?.pause();
}, 90_000);

afterAll(async () => {
  await group?.close();
  await h?.close();
  await upstream?.close();
  await stripe?.close();
}, 60_000);

/** A caller with a card saved the way Stripe reports it (Customer made by checkout-url, then the signed webhook). */
async function paidCaller(prefix: string): Promise<Caller> {
  const caller = await h.user(prefix);
  await saveCardBySetupIntent({ database: h.testDb.database, caller, checkoutUrl: h.url });
  return caller;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` calls of `fn`, at most `width` at once. */
async function pooled<T>(count: number, width: number, fn: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await fn(index);
      }
    }),
  );
  return results;
}

function captureRequests(paymentIntentId: string): number {
  return stripe.fake.requestsTo(`/v1/payment_intents/${paymentIntentId}/capture`, "POST").length;
}

describe.runIf(serverUrl)("worker processes sharing the run queue (needs DATABASE_URL)", () => {
  it(`two processes share ${RUNS} priced runs: each runs once and is captured once`, async () => {
    await h.publish(pricedSpell("paid-echo@v1", 60));
    const alice = await paidCaller("alice");
    const bases = group.processes.map((started) => started.url);
    const statuses = await pooled(RUNS, 16, async (index) => {
      const response = await call(bases[index % bases.length] ?? "", "POST", "/api/spell/execute", {
        token: alice.token,
        body: { spell: "paid-echo@v1", input: { index } },
        headers: { prefer: "respond-async" },
      });
      return response.status;
    });
    expect(statuses).toEqual(Array(RUNS).fill(202));

    const rows = () =>
      h.testDb.database.prisma.execution.findMany({
        where: { userId: alice.id },
        select: { id: true, status: true, outcome: true },
      });
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const pending = (await rows()).filter((row) => row.status === "queued" || row.status === "running");
      if (pending.length === 0) break;
      await sleep(250);
    }
    const finished = await rows();
    expect(finished).toHaveLength(RUNS);
    expect(finished.filter((row) => row.status !== "succeeded")).toEqual([]);
    // Each input ran once: the 500 stored outputs are the 500 indexes, none twice.
    const indexes = finished
      .map((row) => (row.outcome as { output?: { index?: number } }).output?.index ?? -1)
      .sort((a, b) => a - b);
    expect(indexes).toEqual(Array.from({ length: RUNS }, (_, index) => index));

    await expect
      .poll(
        async () =>
          (
            await h.testDb.database.prisma.billingRecord.findMany({
              where: { userId: alice.id, status: "succeeded" },
            })
          ).length,
        { timeout: 30_000 },
      )
      .toBe(RUNS);
    const records = await h.testDb.database.prisma.billingRecord.findMany({ where: { userId: alice.id } });
    expect(new Set(records.map((record) => record.executionId)).size).toBe(RUNS);
    // Never two captures of one payment (each process's capture is keyed, and only one worker ran it).
    const captures = records.map((record) => captureRequests(record.paymentIntentId));
    expect(captures.filter((count) => count !== 1)).toEqual([]);
    await reconcile({ database: h.testDb.database, stripe: stripe.fake.state });
  }, 150_000);

  it("a worker process killed mid-run: another process ends the run once, failed interrupted, released, never captured", async () => {
    // No other process may take the job: the shared ones stop, and the recovering one starts after the kill.
    await Promise.all(group.processes.map((started) => started.stop("SIGTERM")));
    // One deployment's short recovery settings, through the environment only: the victim's start
    // writes the 2 s job expiry to the shared queue (its job gets it), and the recovering process
    // looks for expired jobs every second and fails a claimed row older than 1 s.
    const recoveryEnv = {
      ...processEnv,
      SPELL_RUN_JOB_EXPIRY_S: "2",
      SPELL_RUN_STALE_MS: "1000",
      SPELL_RUN_MAINTENANCE_S: "1",
    };
    const victim = await group.start(recoveryEnv);
    await h.publish(pricedApiSpell("paid-slow@v1", upstream.url, 75, { timeoutMs: 30_000 }));
    const bob = await paidCaller("bob");
    upstream.delayMs = 30_000;
    const runsBefore = upstream.runs();
    const accepted = await call(victim.url, "POST", "/api/spell/execute", {
      token: bob.token,
      body: { spell: "paid-slow@v1", input: {} },
      headers: { prefer: "respond-async" },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const executionId = accepted.body.executionId as string;
    // The victim's worker claimed the run and its upstream request is in flight.
    await expect.poll(() => upstream.inFlight(), { timeout: 10_000, interval: 10 }).toBe(1);
    const row = () => h.testDb.database.prisma.execution.findUniqueOrThrow({ where: { id: executionId } });
    expect((await row()).status).toBe("running");

    expect(await victim.stop("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
    await group.start(recoveryEnv);

    await expect.poll(async () => (await row()).status, { timeout: 20_000, interval: 100 }).toBe("failed");
    const ended = await row();
    expect(ended.outcome).toMatchObject({
      kind: "failed",
      error: { code: "RUNTIME_ERROR", details: { reason: "interrupted" } },
    });
    const record = await h.testDb.database.prisma.billingRecord.findUniqueOrThrow({ where: { executionId } });
    await expect
      .poll(
        async () =>
          (await h.testDb.database.prisma.billingRecord.findUnique({ where: { executionId } }))?.status,
        { timeout: 10_000 },
      )
      .toBe("canceled");
    expect(stripe.fake.state.paymentIntents.get(record.paymentIntentId)?.status).toBe("canceled");
    expect(captureRequests(record.paymentIntentId)).toBe(0);

    // Nothing runs it again: the retried job found the row already failed.
    await sleep(1_500);
    expect(upstream.runs()).toBe(runsBefore + 1);
    expect((await row()).status).toBe("failed");
    const read = await h.call("GET", `/api/executions/get?id=${executionId}`, { token: bob.token });
    expect(read.body.execution).toMatchObject({
      status: "failed",
      error: { code: "RUNTIME_ERROR", details: { reason: "interrupted" } },
      billing: { charged: false },
    });
    await reconcile({ database: h.testDb.database, stripe: stripe.fake.state });
  }, 120_000);
});
