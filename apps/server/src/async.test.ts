import type { PublishInput } from "@spell/contracts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { concurrently, type StripeHarness, startStripeHarness } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";
import type { JsonResponse } from "./testutil/http.ts";

// Asynchronous executions (issue 13) on the real Postgres and pg-boss, with the Stripe adapter
// answered by the fake Stripe and api spells served by a counting upstream.

let s: StripeHarness;
const freeSlug = "counted-free@v1";
// pg-boss needs a PostgreSQL server: CI always names one (`.ci/run`); on the embedded PGlite the
// asynchronous path is refused (`async.embedded.test.ts`).
const serverUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  s = await startStripeHarness();
  await s.h.publish({
    slug: freeSlug,
    runtime: "api",
    artifact: { apiEndpoint: s.upstream.url },
    visibility: "public",
    priceAmount: 0,
    currency: "usd",
  } satisfies PublishInput);
});
afterAll(() => s?.close());
afterEach(async () => {
  s.upstream.delayMs = 0;
  await s.h.runWorker?.resume();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function executeAsync(
  caller: Caller,
  spell: string,
  input: Record<string, unknown>,
  headers: Record<string, string>,
  baseCall: StripeHarness["h"]["call"] = s.h.call,
): Promise<JsonResponse> {
  return baseCall("POST", "/api/spell/execute", { token: caller.token, body: { spell, input }, headers });
}

function read(caller: Caller, executionId: string): Promise<JsonResponse> {
  return s.h.call("GET", `/api/executions/get?id=${executionId}`, { token: caller.token });
}

/** Polls the execution until it reaches `status` (or any end state), at most `timeoutMs`. */
async function pollUntil(
  caller: Caller,
  executionId: string,
  done: (status: string) => boolean,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await read(caller, executionId);
    expect(response.status).toBe(200);
    if (done(response.body.execution.status) || Date.now() > deadline) return response.body.execution;
    await sleep(50);
  }
}
const finished = (status: string) => ["succeeded", "failed", "canceled"].includes(status);

async function paidCaller(prefix: string): Promise<Caller> {
  const caller = await s.h.user(prefix);
  await s.saveCard(caller);
  return caller;
}

async function intentOf(executionId: string) {
  const record = await s.h.testDb.database.prisma.billingRecord.findUnique({ where: { executionId } });
  return record;
}

describe.runIf(serverUrl)("Prefer: wait and respond-async", () => {
  it("a wait that the run beats answers the result itself, as the synchronous call would", async () => {
    const alice = await s.h.user("alice");
    const response = await executeAsync(alice, "echo@v1", { hello: "world" }, { prefer: "wait=10" });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ ok: true, output: { hello: "world" }, spell: { slug: "echo@v1" } });
    const execution = await pollUntil(alice, response.body.executionId, finished);
    expect(execution).toMatchObject({ status: "succeeded", output: { hello: "world" }, error: null });
  });

  it("a wait that runs out answers 202 with Location; polling it reaches the charged result", async () => {
    const alice = await paidCaller("alice");
    s.upstream.delayMs = 2_500;
    const runsBefore = s.upstream.runs();
    const response = await executeAsync(alice, s.countedSlug, { slow: true }, { prefer: "wait=1" });
    expect(response.status).toBe(202);
    // Answered while the run is still in flight upstream.
    expect(s.upstream.inFlight()).toBe(1);
    const { executionId } = response.body;
    expect(response.body).toMatchObject({
      ok: true,
      status: expect.stringMatching(/^(queued|running)$/),
      spell: { slug: s.countedSlug, runtime: "api" },
      location: `/api/executions/${executionId}`,
    });
    expect(response.headers.get("location")).toBe(`/api/executions/${executionId}`);
    // The charge happened before the 202: the payment is authorized, not captured.
    expect((await intentOf(executionId))?.status).toBe("pending");

    const execution = await pollUntil(alice, executionId, finished);
    expect(execution).toMatchObject({
      status: "succeeded",
      output: { input: { slow: true } },
      billing: { amount: 75, currency: "usd" },
    });
    expect(s.upstream.runs()).toBe(runsBefore + 1);
    await expect.poll(async () => (await intentOf(executionId))?.status).toBe("succeeded");
    // The Location answered above is a URL that works.
    expect(
      (await s.h.call("GET", response.headers.get("location") ?? "", { token: alice.token })).status,
    ).toBe(200);
  });

  it("respond-async answers 202 at once; the run appears in the caller's list, paged", async () => {
    const alice = await s.h.user("alice");
    const first = await executeAsync(alice, "echo@v1", { n: 1 }, { prefer: "respond-async" });
    const second = await executeAsync(alice, "echo@v1", { n: 2 }, { prefer: "respond-async" });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.body.status).toBe("queued");
    await pollUntil(alice, first.body.executionId, finished);
    await pollUntil(alice, second.body.executionId, finished);
    const page = await s.h.call("GET", "/api/executions?limit=1", { token: alice.token });
    expect(page.status).toBe(200);
    expect(page.body.executions).toHaveLength(1);
    expect(page.body.executions[0]).toMatchObject({
      executionId: second.body.executionId,
      status: "succeeded",
    });
    const next = await s.h.call("GET", `/api/executions?limit=1&cursor=${page.body.nextCursor}`, {
      token: alice.token,
    });
    expect(next.body.executions[0]).toMatchObject({ executionId: first.body.executionId });
    expect(next.body.nextCursor).toBeNull();
  });

  it("a keyed repeat answers the same queued execution; a synchronous repeat waits for its result", async () => {
    const alice = await s.h.user("alice");
    s.upstream.delayMs = 500;
    const runsBefore = s.upstream.runs();
    const headers = { prefer: "respond-async", "idempotency-key": "async-key-1" };
    const first = await executeAsync(alice, freeSlug, { k: 1 }, headers);
    const again = await executeAsync(alice, freeSlug, { k: 1 }, headers);
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.body.executionId).toBe(first.body.executionId);
    const sync = await executeAsync(alice, freeSlug, { k: 1 }, { "idempotency-key": "async-key-1" });
    expect(sync.status).toBe(200);
    expect(sync.body).toMatchObject({ executionId: first.body.executionId, output: { input: { k: 1 } } });
    expect(s.upstream.runs()).toBe(runsBefore + 1);
  });

  it("a refusal is answered synchronously and queues nothing", async () => {
    const alice = await s.h.user("alice");
    const unknown = await executeAsync(alice, "no-such@v1", {}, { prefer: "respond-async" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("SPELL_NOT_FOUND");
    const noCard = await executeAsync(alice, s.countedSlug, {}, { prefer: "respond-async" });
    expect(noCard.status).toBe(402);
    expect(noCard.body.error.code).toBe("PAYMENT_METHOD_REQUIRED");
    const badWait = await executeAsync(alice, "echo@v1", {}, { prefer: "wait=61" });
    expect(badWait.status).toBe(400);
    expect(badWait.body.error.code).toBe("VALIDATION_ERROR");
    const badDeadline = await executeAsync(
      alice,
      "echo@v1",
      {},
      { prefer: "respond-async", "cancel-after": "x" },
    );
    expect(badDeadline.status).toBe(400);
    const list = await s.h.call("GET", "/api/executions", { token: alice.token });
    expect(list.body.executions.filter((run: { status: string }) => run.status !== "failed")).toEqual([]);
  });

  it("another user's execution is a 404, to read and to cancel", async () => {
    const alice = await s.h.user("alice");
    const bob = await s.h.user("bob");
    const response = await executeAsync(alice, "echo@v1", {}, { prefer: "respond-async" });
    const { executionId } = response.body;
    expect((await read(bob, executionId)).status).toBe(404);
    const cancel = await s.h.call("POST", "/api/executions/cancel", {
      token: bob.token,
      body: { id: executionId },
    });
    expect(cancel.status).toBe(404);
    expect((await read(alice, executionId)).status).toBe(200);
  });
});

describe.runIf(serverUrl)("cancel and Cancel-After", () => {
  it("a queued run canceled never runs and is never charged", async () => {
    const alice = await paidCaller("alice");
    const runsBefore = s.upstream.runs();
    await s.h.runWorker?.pause();
    const response = await executeAsync(alice, s.countedSlug, {}, { prefer: "respond-async" });
    expect(response.status).toBe(202);
    const { executionId } = response.body;
    const cancel = await s.h.call("POST", "/api/executions/cancel", {
      token: alice.token,
      body: { id: executionId },
    });
    expect(cancel.status).toBe(200);
    expect(cancel.body.execution).toMatchObject({
      status: "canceled",
      error: { code: "EXECUTION_CANCELED", details: { reason: "canceled" } },
      billing: { charged: false, status: "not_charged" },
    });
    // The worker takes the job again: the row is canceled, so nothing runs.
    await s.h.runWorker?.resume();
    await sleep(1_500);
    expect((await read(alice, executionId)).body.execution.status).toBe("canceled");
    expect(s.upstream.runs()).toBe(runsBefore);
    const record = await intentOf(executionId);
    await expect.poll(async () => (await intentOf(executionId))?.status).toBe("canceled");
    expect(s.fake.requestsTo(`/v1/payment_intents/${record?.paymentIntentId}/capture`, "POST")).toHaveLength(
      0,
    );
  });

  it("a run not started before its Cancel-After deadline is aborted and never charged", async () => {
    const alice = await paidCaller("alice");
    const runsBefore = s.upstream.runs();
    await s.h.runWorker?.pause();
    const response = await executeAsync(
      alice,
      s.countedSlug,
      {},
      { prefer: "respond-async", "cancel-after": "1" },
    );
    expect(response.status).toBe(202);
    await sleep(1_200);
    await s.h.runWorker?.resume();
    const execution = await pollUntil(alice, response.body.executionId, finished);
    expect(execution).toMatchObject({ status: "canceled", error: { details: { reason: "deadline" } } });
    expect(s.upstream.runs()).toBe(runsBefore);
    await expect.poll(async () => (await intentOf(response.body.executionId))?.status).toBe("canceled");
  });

  it("a running run canceled keeps its canceled state; the money is released, not captured", async () => {
    const alice = await paidCaller("alice");
    s.upstream.delayMs = 1_000;
    const response = await executeAsync(alice, s.countedSlug, {}, { prefer: "respond-async" });
    const { executionId } = response.body;
    await pollUntil(alice, executionId, (status) => status === "running");
    const cancel = await s.h.call("POST", "/api/executions/cancel", {
      token: alice.token,
      body: { id: executionId },
    });
    expect(cancel.body.execution.status).toBe("canceled");
    await expect
      .poll(async () => (await intentOf(executionId))?.status, { timeout: 10_000 })
      .toBe("canceled");
    expect((await read(alice, executionId)).body.execution.status).toBe("canceled");
    const record = await intentOf(executionId);
    expect(s.fake.requestsTo(`/v1/payment_intents/${record?.paymentIntentId}/capture`, "POST")).toHaveLength(
      0,
    );
  });
});

describe.runIf(serverUrl)("several worker processes", () => {
  it("two processes share 100 queued runs: each runs exactly once", { timeout: 60_000 }, async () => {
    const one = await s.h.startInstance();
    const two = await s.h.startInstance();
    await s.h.runWorker?.pause();
    const alice = await s.h.user("alice");
    const runsBefore = s.upstream.runs();
    const bases = [one.url, two.url];
    const responses = await concurrently(100, (index) =>
      fetch(`${bases[index % 2]}/api/spell/execute`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${alice.token}`,
          "content-type": "application/json",
          prefer: "respond-async",
        },
        body: JSON.stringify({ spell: freeSlug, input: { index } }),
      }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as { executionId: string },
      })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(100).fill(202));
    const ids = responses.map((response) => response.body.executionId);
    const outputs = await Promise.all(ids.map((id) => pollUntil(alice, id, finished, 45_000)));
    expect(outputs.map((execution) => execution.status)).toEqual(Array(100).fill("succeeded"));
    expect(s.upstream.runs()).toBe(runsBefore + 100);
    const indexes = outputs.map((execution) => execution.output.input.index).sort((a, b) => a - b);
    expect(indexes).toEqual(Array.from({ length: 100 }, (_, index) => index));
    await one.close();
    await two.close();
  });
});
