import { createServer, type Server, Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";
import type { Instance } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { reconcile } from "./testutil/reconcile.ts";

/**
 * A database outage while a priced run is in flight: an API instance reaches Postgres through a
 * loopback TCP proxy that the test cuts while the spell (an api spell on a slow upstream) runs. The
 * answer cannot be stored, so it must not be delivered nor charged: 503, the authorization released
 * (now, or once the database is back), and the key reaches a terminal state.
 */

interface CuttableProxy {
  url: string;
  /** Drops every connection and refuses new ones (the database is unreachable). */
  cut(): Promise<void>;
  /** Accepts connections again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

async function startProxy(targetUrl: string): Promise<CuttableProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const next = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(Number(target.port || 5432), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => resolve());
    });
    port = (next.address() as { port: number }).port;
    server = next;
  };
  const stop = async () => {
    const current = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  await listen();
  const url = new URL(targetUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString(), cut: stop, restore: listen, close: stop };
}

// A real Postgres only: the embedded PGlite is one session behind its socket, so a connection cut
// mid-statement leaves that one session (every connection's) in a state no real outage produces —
// and the embedded database lives inside the process, it cannot go away on its own.
const serverUrl = process.env.DATABASE_URL;

let s: StripeHarness;
let proxy: CuttableProxy;
let instance: Instance;
beforeAll(async () => {
  if (!serverUrl) return;
  s = await startStripeHarness();
  proxy = await startProxy(s.h.testDb.url);
  instance = await s.h.startInstance({}, { databaseUrl: proxy.url });
}, 60_000);
afterEach(async () => {
  if (!serverUrl) return;
  s.upstream.delayMs = 0;
  s.fake.state.failures.length = 0;
  await proxy.restore().catch(() => {});
});
afterAll(async () => {
  await instance?.close().catch(() => {});
  await proxy?.close();
  await s?.close();
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.runIf(serverUrl)(
  "the database goes away while a priced run is in flight (needs DATABASE_URL)",
  () => {
    it.each([
      ["Stripe answers the release at once", 0],
      ["the release fails too and happens once the database is back", 3],
    ])(
      "%s: 503, never charged, the key ends failed",
      async (_name, cancelFailures) => {
        const caller = await s.h.user("outage");
        await s.saveCard(caller);
        const key = `outage-${cancelFailures}`;
        if (cancelFailures > 0) s.fake.failNext("/v1/payment_intents/*/cancel", "500", cancelFailures);
        s.upstream.delayMs = 1_500;
        const runsBefore = s.upstream.runs();

        const answer = call(instance.url, "POST", "/api/spell/execute", {
          token: caller.token,
          body: { spell: s.countedSlug, input: { key } },
          headers: { "idempotency-key": key },
        });
        // The spell is running (the upstream holds its answer): cut the instance's database now.
        await waitFor(() => s.upstream.runs() > runsBefore, 10_000, "the run to start");
        await proxy.cut();
        const response = await answer;

        expect(response.status).toBe(503);
        expect(response.body.error).toMatchObject({
          code: "SERVICE_UNAVAILABLE",
          details: { reason: "result_not_stored", billing: { charged: false, status: "not_charged" } },
        });
        expect(response.body.output).toBeUndefined();
        const [intent] = [...s.fake.state.paymentIntents.values()].filter(
          (pi) => (pi.metadata as Record<string, string>).user_id === caller.id,
        );
        if (cancelFailures === 0) {
          // Released at once, while the database was still down.
          expect(intent?.status).toBe("canceled");
          expect(response.body.error.details.billing).toMatchObject({ refunded: true });
        } else {
          expect(intent?.status).toBe("requires_capture");
        }

        await proxy.restore();
        // The key reaches its end as soon as the database is back: the stored failure, with its release.
        await waitFor(
          async () =>
            (await s.h.testDb.database.prisma.execution.findFirst({ where: { userId: caller.id } }))
              ?.status === "failed",
          20_000,
          "the execution to be finished",
        );
        await reconcile({ database: s.h.testDb.database, stripe: s.fake.state, runs: s.upstream.runs() });
        expect(intent?.status).toBe("canceled");
        expect(
          await s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId: caller.id } }),
        ).toEqual([expect.objectContaining({ status: "canceled" })]);

        // A retry with the key answers the stored failure: nothing runs or is charged again.
        const runsAfter = s.upstream.runs();
        const replay = await call(instance.url, "POST", "/api/spell/execute", {
          token: caller.token,
          body: { spell: s.countedSlug, input: { key } },
          headers: { "idempotency-key": key },
        });
        expect(replay.status).toBe(503);
        expect(replay.body.error).toMatchObject({
          code: "SERVICE_UNAVAILABLE",
          details: { reason: "result_not_stored", billing: { charged: false } },
        });
        expect(s.upstream.runs()).toBe(runsAfter);
        const me = await call(instance.url, "GET", "/api/me", { token: caller.token });
        expect(me.body.usage.totalCharged).toEqual([]);
      },
      60_000,
    );
  },
);

describe.runIf(serverUrl)(
  "the database goes away between Stripe's authorization and the billing record (needs DATABASE_URL)",
  () => {
    it("the authorization is cancelled at once, nothing runs, the caller is told to retry", async () => {
      const caller = await s.h.user("outage-authorized");
      await s.saveCard(caller);
      const runsBefore = s.upstream.runs();
      const ownIntents = () =>
        [...s.fake.state.paymentIntents.values()].filter(
          (pi) => (pi.metadata as Record<string, string>).user_id === caller.id,
        );
      // Stripe creates the intent and the connection drops: the SDK's retry (after its backoff)
      // gets the answer replayed. The database is cut in that window, so the record cannot be written.
      s.fake.failNext("/v1/payment_intents", "network-after-commit");

      const answer = call(instance.url, "POST", "/api/spell/execute", {
        token: caller.token,
        body: { spell: s.countedSlug, input: { key: "outage-authorized" } },
      });
      await waitFor(() => ownIntents().length > 0, 10_000, "Stripe to authorize");
      await proxy.cut();
      const response = await answer;

      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe("SERVICE_UNAVAILABLE");
      expect(response.body.output).toBeUndefined();
      const [intent] = ownIntents();
      // Released while the database was still down, not left held until it lapses.
      expect(intent?.status).toBe("canceled");
      expect(s.fake.requestsTo(`/v1/payment_intents/${intent?.id}/cancel`)).toHaveLength(1);
      expect(s.upstream.runs()).toBe(runsBefore);

      await proxy.restore();
      expect(
        await s.h.testDb.database.prisma.billingRecord.findMany({ where: { userId: caller.id } }),
      ).toEqual([]);
      const me = await call(instance.url, "GET", "/api/me", { token: caller.token });
      expect(me.body.usage.totalCharged).toEqual([]);
    }, 60_000);
  },
);
