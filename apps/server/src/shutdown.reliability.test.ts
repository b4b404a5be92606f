import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FakeStripeServer, startFakeStripeServer } from "@spell/billing/testing";
import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CountingUpstream,
  RETURN_ORIGIN,
  startCountingUpstream,
  WEBHOOK_SECRET,
} from "./testutil/billing.ts";
import { signToken } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { type ApiProcess, startApiProcess } from "./testutil/processes.ts";

/**
 * Graceful shutdown of a real server process (`src/main.ts`, as `pnpm start` runs it): SIGTERM while
 * 50 runs are in flight (an api spell whose loopback upstream holds every answer) → the server stops
 * accepting, every one of the 50 is answered 2xx, then the process exits 0.
 */

const IN_FLIGHT = 50;

let testDb: TestDatabase;
let upstream: CountingUpstream;
let stripe: FakeStripeServer;
let dataDir: string;
let api: ApiProcess | undefined;

async function startApi(): Promise<string> {
  api = await startApiProcess({
    env: {
      DATABASE_URL: testDb.url,
      SPELL_DATA_DIR: dataDir,
      // Stripe mode, so the settlement worker (pg-boss) is part of what shuts down.
      STRIPE_SECRET_KEY: "sk_test_shutdown",
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: stripe.url,
      SPELL_BILLING_RETURN_ORIGINS: RETURN_ORIGIN,
      SPELL_SIGNING_KEY: "signing-key-for-api-spells-0123456789",
      SPELL_API_ALLOWED_HOSTS: upstream.host,
      SPELL_WASM_WORKERS: "1",
      SPELL_SHUTDOWN_GRACE_MS: "20000",
    },
  });
  return api.url;
}

// Like billing.multiprocess.test.ts: a real Postgres (the embedded one lives inside the process).
const serverUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  if (!serverUrl) return;
  testDb = await createTestDatabase({ url: serverUrl });
  upstream = await startCountingUpstream();
  stripe = await startFakeStripeServer();
  dataDir = await mkdtemp(join(tmpdir(), "spell-shutdown-"));
}, 60_000);

afterAll(async () => {
  await api?.stop("SIGKILL");
  await upstream?.close();
  await stripe?.close();
  await testDb?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 30_000);

describe.runIf(serverUrl)("SIGTERM to a real server process (needs DATABASE_URL)", () => {
  it(`answers all ${IN_FLIGHT} in-flight runs with 2xx, refuses new connections, then exits 0`, async () => {
    const url = await startApi();
    const admin = await signToken("admin-shutdown", { admin: true });
    const published = await call(url, "POST", "/api/admin/spells", {
      token: admin,
      body: {
        slug: "slow-api@v1",
        runtime: "api",
        artifact: { apiEndpoint: upstream.url },
        visibility: "public",
        priceAmount: 0,
      },
    });
    expect(published.status, JSON.stringify(published.body)).toBe(200);

    upstream.delayMs = 2_000;
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => signToken(`shutdown-user-${i}`)));
    const answers = Array.from({ length: IN_FLIGHT }, (_, i) =>
      call(url, "POST", "/api/spell/execute", {
        token: tokens[i % tokens.length] ?? "",
        body: { spell: "slow-api@v1", input: { i } },
        headers: { "idempotency-key": `shutdown-${i}` },
      }),
    );
    // Every run is in flight: its upstream request arrived and is held.
    const deadline = Date.now() + 15_000;
    while (upstream.inFlight() < IN_FLIGHT && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(upstream.inFlight()).toBe(IN_FLIGHT);

    const exited = api?.stop("SIGTERM");
    // Stopped accepting: a new connection is refused while the 50 drain.
    await new Promise((r) => setTimeout(r, 200));
    await expect(call(url, "GET", "/healthz")).rejects.toThrow();

    const responses = await Promise.all(answers);
    expect(responses.map((response) => response.status)).toEqual(Array(IN_FLIGHT).fill(200));
    responses.forEach((response, i) => {
      expect(response.body.output).toMatchObject({ input: { i } });
    });
    expect(await exited, api?.log()).toEqual({ code: 0, signal: null });
    // Every run was stored before the process went away: nothing left running.
    const rows = await testDb.database.prisma.execution.groupBy({ by: ["status"], _count: true });
    expect(rows).toEqual([{ status: "succeeded", _count: IN_FLIGHT }]);
  }, 60_000);
});
