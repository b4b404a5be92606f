import { lookup as dnsLookup } from "node:dns";
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DnsLookupAll } from "@spell/runtime-api";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Caller, type Harness, startHarness, TEST_WEBHOOK_SECRET } from "./testutil/harness.ts";

// Signed webhooks of asynchronous runs (issue 13, item 4) on the real Postgres and pg-boss, with a
// loopback receiver. The receiver's 127.0.0.1 is a forbidden address like any other: the harness
// admits it through SPELL_WEBHOOK_ALLOWED_HOSTS (refused in production), as the api runtime's tests
// admit their loopback upstreams through SPELL_API_ALLOWED_HOSTS.

const serverUrl = process.env.DATABASE_URL;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  path: string;
}

/** A receiver that records every request and answers `statuses` in turn (then 204; 0: no answer). */
interface Receiver {
  url: string;
  port: number;
  received: Received[];
  statuses: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver = { received: [] as Received[], statuses: [] as number[] } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      receiver.received.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        path: req.url ?? "",
      });
      const status = receiver.statuses.shift() ?? 204;
      // 0: never answer (the sender's timeout ends the attempt).
      if (status === 0) return;
      res.writeHead(status, status >= 300 && status < 400 ? { location: "/elsewhere" } : {}).end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}

// `sneaky.test` resolves to the receiver's own loopback address: a name is judged by what it
// resolves to at delivery, so it is refused although the literal 127.0.0.1 is allow-listed.
const lookup: DnsLookupAll = (hostname, options, callback) => {
  if (hostname === "sneaky.test") return callback(null, [{ address: "127.0.0.1", family: 4 }]);
  dnsLookup(hostname, options, callback);
};

let h: Harness;
let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
  h = await startHarness({
    env: { SPELL_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" },
    webhooks: {
      lookup,
      timeoutMs: 2_000,
      tuning: { retryLimit: 3, retryDelaySeconds: 1, sweepIntervalMs: 300, sweepAfterMs: 500 },
    },
  });
});
afterAll(async () => {
  await h?.close();
  await receiver?.close();
});
beforeEach(() => {
  receiver.received.length = 0;
  receiver.statuses.length = 0;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(50);
  }
}

function execute(
  caller: Caller,
  webhook: Record<string, unknown>,
  headers: Record<string, string> = { prefer: "respond-async" },
  input: Record<string, unknown> = { n: 1 },
) {
  return h.call("POST", "/api/spell/execute", {
    token: caller.token,
    body: { spell: "echo@v1", input, webhook },
    headers,
  });
}

/** The deliveries received for one execution, verified with the `standardwebhooks` package. */
function verifiedFor(executionId: string) {
  const verifier = new Webhook(TEST_WEBHOOK_SECRET);
  return receiver.received
    .map((request) => ({
      request,
      payload: verifier.verify(request.body, request.headers as Record<string, string>) as {
        type: string;
        timestamp: string;
        data: { executionId: string; status: string; output: unknown };
      },
    }))
    .filter(({ payload }) => payload.data.executionId === executionId);
}

async function deliveriesOf(caller: Caller, executionId: string) {
  const response = await h.call("GET", `/api/executions/${executionId}/webhook-deliveries`, {
    token: caller.token,
  });
  expect(response.status).toBe(200);
  return response.body.deliveries as Array<{
    deliveryId: string;
    event: string;
    status: string;
    attempts: Array<{ outcome: string; statusCode: number | null; error: string | null; durationMs: number }>;
  }>;
}

describe.runIf(serverUrl)("run webhooks (Standard Webhooks, pg-boss)", () => {
  it("a respond-async run delivers start and completed, signed so standardwebhooks verifies them", async () => {
    const alice = await h.user("alice");
    const accepted = await execute(alice, { url: `${receiver.url}/hooks`, events: ["start", "completed"] });
    expect(accepted.status).toBe(202);
    const executionId = accepted.body.executionId as string;

    const both = await until(() => {
      const got = verifiedFor(executionId);
      return got.length === 2 ? got : undefined;
    });
    const started = both.find(({ payload }) => payload.type === "execution.started");
    const completed = both.find(({ payload }) => payload.type === "execution.completed");
    expect(started?.payload.data).toMatchObject({ executionId, status: "running", output: null });
    expect(completed?.payload.data).toMatchObject({ executionId, status: "succeeded", output: { n: 1 } });
    // The body's data is what the owner's GET answers.
    const read = await h.call("GET", `/api/executions/${executionId}`, { token: alice.token });
    expect(completed?.payload.data).toEqual(read.body.execution);

    // A tampered body or another secret does not verify.
    const request = completed?.request as Received;
    expect(() =>
      new Webhook(TEST_WEBHOOK_SECRET).verify(
        request.body.replace("succeeded", "failed"),
        request.headers as Record<string, string>,
      ),
    ).toThrow();
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 9).toString("base64")}`).verify(
        request.body,
        request.headers as Record<string, string>,
      ),
    ).toThrow();

    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list.every((delivery) => delivery.status === "delivered") ? list : undefined;
    });
    expect(deliveries.map((delivery) => delivery.event).sort()).toEqual(["completed", "start"]);
    expect(new Set(both.map(({ request }) => request.headers["webhook-id"]))).toEqual(
      new Set(deliveries.map((delivery) => delivery.deliveryId)),
    );
    for (const delivery of deliveries) {
      expect(delivery.attempts).toEqual([
        expect.objectContaining({ outcome: "delivered", statusCode: 204, error: null }),
      ]);
    }
    // Only the owner sees them.
    const bob = await h.user("bob");
    const other = await h.call("GET", `/api/executions/${executionId}/webhook-deliveries`, {
      token: bob.token,
    });
    expect(other.status).toBe(404);
  });

  it("retries after 500s with backoff, same id and body each time, every attempt recorded", async () => {
    const alice = await h.user("alice");
    receiver.statuses.push(500, 500);
    const accepted = await execute(alice, { url: `${receiver.url}/flaky` });
    expect(accepted.status).toBe(202);
    const executionId = accepted.body.executionId as string;

    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list[0]?.status === "delivered" ? list : undefined;
    }, 30_000);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.event).toBe("completed");
    expect(deliveries[0]?.attempts.map((attempt) => [attempt.outcome, attempt.statusCode])).toEqual([
      ["failed", 500],
      ["failed", 500],
      ["delivered", 204],
    ]);
    const requests = verifiedFor(executionId).map(({ request }) => request);
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((request) => request.headers["webhook-id"]))).toEqual(
      new Set([deliveries[0]?.deliveryId]),
    );
    expect(new Set(requests.map((request) => request.body)).size).toBe(1);
  });

  it("never follows a redirect: a 3xx is a failed attempt, retried at the same URL", async () => {
    const alice = await h.user("alice");
    receiver.statuses.push(307);
    const accepted = await execute(alice, { url: `${receiver.url}/moved` });
    const executionId = accepted.body.executionId as string;
    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list[0]?.status === "delivered" ? list : undefined;
    }, 30_000);
    expect(deliveries[0]?.attempts.map((attempt) => [attempt.outcome, attempt.statusCode])).toEqual([
      ["failed", 307],
      ["delivered", 204],
    ]);
    expect(verifiedFor(executionId).map(({ request }) => request.path)).toEqual(["/moved", "/moved"]);
  });

  it("an attempt the receiver never answers ends at the timeout and is retried", async () => {
    const alice = await h.user("alice");
    receiver.statuses.push(0);
    const accepted = await execute(alice, { url: `${receiver.url}/slow` });
    const executionId = accepted.body.executionId as string;
    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list[0]?.status === "delivered" ? list : undefined;
    }, 30_000);
    const [timedOut, delivered] = deliveries[0]?.attempts ?? [];
    expect(timedOut).toMatchObject({ outcome: "failed", statusCode: null, error: "timeout after 2000 ms" });
    expect(timedOut?.durationMs).toBeGreaterThanOrEqual(1_900);
    expect(delivered).toMatchObject({ outcome: "delivered", statusCode: 204 });
  });

  it("a receiver that keeps failing is marked failed after the last retry", async () => {
    const alice = await h.user("alice");
    receiver.statuses.push(503, 503, 503, 503);
    const accepted = await execute(alice, { url: `${receiver.url}/down` });
    const executionId = accepted.body.executionId as string;
    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list[0]?.status === "failed" ? list : undefined;
    }, 45_000);
    // The first attempt and retryLimit (3) retries.
    expect(deliveries[0]?.attempts.map((attempt) => attempt.statusCode)).toEqual([503, 503, 503, 503]);
  }, 60_000);

  it("refuses a literal private, loopback or credentialed URL at the request, before anything is written", async () => {
    const alice = await h.user("alice");
    for (const url of [
      "http://10.1.2.3/hook",
      "http://169.254.169.254/latest",
      "http://localhost:9/hook",
      "http://[::1]:9/hook",
      "https://user:pass@example.com/hook",
      "ftp://example.com/hook",
      "not a url",
    ]) {
      const refused = await execute(alice, { url });
      expect(refused.status, url).toBe(400);
      expect(refused.body.error.code, url).toBe("VALIDATION_ERROR");
    }
    const forbidden = await execute(alice, { url: "http://10.1.2.3/hook" });
    expect(forbidden.body.error.details).toMatchObject({ reason: "webhook_forbidden_address" });
    expect(await h.executionCount(alice.id)).toBe(0);
  });

  it("refuses at delivery a name that resolves to a forbidden address, and records the attempt", async () => {
    const alice = await h.user("alice");
    const accepted = await execute(alice, { url: `http://sneaky.test:${receiver.port}/hook` });
    expect(accepted.status).toBe(202);
    const executionId = accepted.body.executionId as string;
    const deliveries = await until(async () => {
      const list = await deliveriesOf(alice, executionId);
      return list[0]?.status === "refused" ? list : undefined;
    });
    expect(deliveries[0]?.attempts).toEqual([
      expect.objectContaining({
        outcome: "refused",
        statusCode: null,
        error: expect.stringMatching(/forbidden/),
      }),
    ]);
    expect(receiver.received).toHaveLength(0);
  });

  it("a queued run canceled before it starts emits completed with status canceled (and never start)", async () => {
    const alice = await h.user("alice");
    await h.runWorker?.pause();
    try {
      const accepted = await execute(alice, {
        url: `${receiver.url}/cancel`,
        events: ["start", "completed"],
      });
      expect(accepted.status).toBe(202);
      const executionId = accepted.body.executionId as string;
      const canceled = await h.call("POST", "/api/executions/cancel", {
        token: alice.token,
        body: { id: executionId },
      });
      expect(canceled.body.execution.status).toBe("canceled");
      const [delivery] = await until(() => {
        const got = verifiedFor(executionId);
        return got.length > 0 ? got : undefined;
      });
      expect(delivery?.payload).toMatchObject({
        type: "execution.completed",
        data: { executionId, status: "canceled", error: { code: "EXECUTION_CANCELED" } },
      });
    } finally {
      await h.runWorker?.resume();
    }
    await sleep(300);
    expect(receiver.received.filter((request) => request.body.includes("execution.started"))).toHaveLength(0);
  });

  it("a webhook without Prefer is queued but answers synchronously when the run finishes in time", async () => {
    const alice = await h.user("alice");
    const response = await execute(alice, { url: `${receiver.url}/sync` }, {}, { sync: true });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ ok: true, output: { sync: true } });
    const executionId = response.body.executionId as string;
    const [delivery] = await until(() => {
      const got = verifiedFor(executionId);
      return got.length > 0 ? got : undefined;
    });
    expect(delivery?.payload.data.status).toBe("succeeded");
  });

  it("the sweep sends a delivery whose enqueue was lost between the commit and the send", async () => {
    const alice = await h.user("alice");
    const accepted = await execute(alice, { url: `${receiver.url}/lost`, events: ["completed"] });
    const executionId = accepted.body.executionId as string;
    await until(() => (verifiedFor(executionId).length === 1 ? true : undefined));
    // As if a process died after its statement committed a start delivery and before it enqueued it.
    await h.testDb.database.prisma.$executeRawUnsafe(
      `INSERT INTO webhook_deliveries (execution_id, event, url) VALUES ($1::uuid, 'start', $2)`,
      executionId,
      `${receiver.url}/lost`,
    );
    const started = await until(() =>
      verifiedFor(executionId).find(({ payload }) => payload.type === "execution.started"),
    );
    expect(started.payload.data).toMatchObject({ executionId, status: "running" });
  });
});
