import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { PublishInput } from "@spell/contracts";
import { WASM_DEMOS } from "@spell/runtime-wasm";
import { cpuTicks, sandboxPids } from "@spell/runtime-wasm/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";
import { reconcile } from "./testutil/reconcile.ts";
import { pricedApiSpell } from "./testutil/spells.ts";

// Canceling a RUNNING asynchronous execution (issue 13): the worker learns of the cancel from the
// row (whichever process served it), aborts the runtime — the wasm sandbox process is killed, the
// api upstream request aborted — and releases the authorization. Real Postgres, pg-boss, the wasm
// pool, a loopback upstream, the Stripe adapter answered by the fake Stripe.

const serverUrl = process.env.DATABASE_URL;
const [firstDemo] = WASM_DEMOS;
if (!firstDemo) throw new Error("WASM_DEMOS is empty");
const BIN_DIR = new URL("./", firstDemo.file);

/** An upstream that never answers `/hold`: it counts the requests it holds and those the caller aborted. */
interface HoldingUpstream {
  url: string;
  held(): number;
  aborted(): number;
  close(): Promise<void>;
}

async function startHoldingUpstream(): Promise<HoldingUpstream> {
  let held = 0;
  let aborted = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      held++;
      res.on("close", () => {
        held--;
        if (!res.writableFinished) aborted++;
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hold`,
    held: () => held,
    aborted: () => aborted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let s: StripeHarness;
let holding: HoldingUpstream;

beforeAll(async () => {
  if (!serverUrl) return;
  holding = await startHoldingUpstream();
  s = await startStripeHarness({
    wasm: true,
    // Any loopback port: the counting upstream and the holding one.
    env: { SPELL_WASM_WORKERS: "1", SPELL_API_ALLOWED_HOSTS: "127.0.0.1" },
  });
  const wasm = async (name: string) => (await readFile(new URL(`${name}.wasm`, BIN_DIR))).toString("base64");
  const spells: PublishInput[] = [
    {
      slug: "paid-loop@v1",
      runtime: "wasm",
      artifact: { wasmBase64: await wasm("loop") },
      visibility: "public",
      priceAmount: 75,
      currency: "usd",
      // Far longer than the test: only the cancel ends this run.
      config: { timeoutMs: 25_000 },
    },
    {
      slug: "wasm-echo@v1",
      runtime: "wasm",
      artifact: { wasmBase64: await wasm("echo") },
      visibility: "public",
      priceAmount: 0,
    },
    pricedApiSpell("paid-hold@v1", holding.url, 75, { timeoutMs: 25_000 }),
  ];
  for (const spell of spells) await s.h.publish(spell);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await holding?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function paidCaller(prefix: string): Promise<Caller> {
  const caller = await s.h.user(prefix);
  await s.saveCard(caller);
  return caller;
}

async function startRun(caller: Caller, spell: string): Promise<string> {
  const response = await s.h.call("POST", "/api/spell/execute", {
    token: caller.token,
    body: { spell, input: {} },
    headers: { prefer: "respond-async" },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.executionId as string;
}

async function statusOf(caller: Caller, executionId: string): Promise<string> {
  const response = await s.h.call("GET", `/api/executions/get?id=${executionId}`, { token: caller.token });
  return response.body.execution.status as string;
}

async function cancel(caller: Caller, executionId: string) {
  const response = await s.h.call("POST", "/api/executions/cancel", {
    token: caller.token,
    body: { id: executionId },
  });
  expect(response.status).toBe(200);
  return response.body.execution;
}

/** The run ended canceled, its authorization released at Stripe, and nothing was ever captured. */
async function expectReleased(caller: Caller, executionId: string): Promise<void> {
  const record = await s.h.testDb.database.prisma.billingRecord.findUnique({ where: { executionId } });
  expect(record).not.toBeNull();
  await expect
    .poll(async () => {
      const now = await s.h.testDb.database.prisma.billingRecord.findUnique({ where: { executionId } });
      return now?.status;
    })
    .toBe("canceled");
  expect(s.fake.state.paymentIntents.get(record?.paymentIntentId ?? "")?.status).toBe("canceled");
  expect(s.fake.requestsTo(`/v1/payment_intents/${record?.paymentIntentId}/capture`, "POST")).toHaveLength(0);
  const read = await s.h.call("GET", `/api/executions/get?id=${executionId}`, { token: caller.token });
  expect(read.body.execution).toMatchObject({
    status: "canceled",
    error: { code: "EXECUTION_CANCELED", details: { reason: "canceled" } },
    billing: { charged: false, status: "not_charged" },
  });
  await reconcile({ database: s.h.testDb.database, stripe: s.fake.state });
}

describe.runIf(serverUrl)("cancel of a running run stops its work", () => {
  it("wasm: the sandbox process is gone long before its deadline; never charged; the next wasm call works", async () => {
    const alice = await paidCaller("alice");
    const executionId = await startRun(alice, "paid-loop@v1");
    await expect.poll(() => statusOf(alice, executionId), { timeout: 10_000 }).toBe("running");
    // The guest spins in one sandbox process: the one whose CPU time grows.
    let spinning: number[] = [];
    await expect
      .poll(
        async () => {
          const ticks = new Map(sandboxPids().map((pid) => [pid, cpuTicks(pid)]));
          await sleep(200);
          spinning = [...ticks].filter(([pid, used]) => cpuTicks(pid) > used).map(([pid]) => pid);
          return spinning.length;
        },
        { timeout: 10_000 },
      )
      .toBe(1);
    const [guest = -1] = spinning;

    const canceledAt = performance.now();
    expect((await cancel(alice, executionId)).status).toBe("canceled");
    await expect.poll(() => cpuTicks(guest), { timeout: 5_000, interval: 20 }).toBe(-1);
    expect(performance.now() - canceledAt).toBeLessThan(10_000);

    await expectReleased(alice, executionId);
    // The pool replaced the killed process: a wasm call works at once.
    const next = await s.execute(alice, "wasm-echo@v1", { after: "cancel" });
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(next.body.output).toEqual({ after: "cancel" });
    // No sandbox process is left spinning.
    const ticks = new Map(sandboxPids().map((pid) => [pid, cpuTicks(pid)]));
    await sleep(200);
    expect([...ticks].filter(([pid, used]) => cpuTicks(pid) > used + 2)).toEqual([]);
  }, 40_000);

  it("api: the upstream sees its request aborted; never charged", async () => {
    const bob = await paidCaller("bob");
    const abortedBefore = holding.aborted();
    const executionId = await startRun(bob, "paid-hold@v1");
    await expect.poll(() => holding.held(), { timeout: 10_000 }).toBe(1);
    expect(await statusOf(bob, executionId)).toBe("running");

    const canceledAt = performance.now();
    expect((await cancel(bob, executionId)).status).toBe("canceled");
    await expect.poll(() => holding.aborted(), { timeout: 5_000, interval: 20 }).toBe(abortedBefore + 1);
    expect(performance.now() - canceledAt).toBeLessThan(10_000);
    expect(holding.held()).toBe(0);
    await expectReleased(bob, executionId);
  }, 30_000);
});
