import { readFile } from "node:fs/promises";
import type { PublishInput } from "@spell/contracts";
import { WASM_DEMOS } from "@spell/runtime-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";

/**
 * The wasm runtime as a caller meets it: modules published over REST, run over REST, on a real
 * server with the wasm pool on. One server for the file (Stripe mode, so the priced case can run
 * too): a second worker pool is not free on a small machine.
 */

const TIMEOUT_MS = 500;
/** A small cap so the grow bomb reaches it quickly. */
const MEMORY_MB = 16;

/** The committed binaries live beside the demos (`packages/runtime-wasm/wasm/bin`). */
const [firstDemo] = WASM_DEMOS;
if (!firstDemo) throw new Error("WASM_DEMOS is empty");
const BIN_DIR = new URL("./", firstDemo.file);
const wasmBase64 = async (name: string) =>
  (await readFile(new URL(`${name}.wasm`, BIN_DIR))).toString("base64");

let s: StripeHarness;
let user: Caller;

beforeAll(async () => {
  s = await startStripeHarness({
    wasm: true,
    env: { SPELL_WASM_WORKERS: "2", SPELL_WASM_MEMORY_MB: String(MEMORY_MB) },
  });
  user = await s.h.user("wasm");
  await Promise.all(
    ["wordcount", "echo", "loop", "grow-bomb", "flood", "trap", "exit-nonzero"].map(async (name) =>
      s.h.publish(spell(`${name}@v1`, await wasmBase64(name))),
    ),
  );
  // Both workers up, so a timed call starts at once instead of waiting for a spawn.
  await Promise.all([s.execute(user, "echo@v1", { warm: 1 }), s.execute(user, "echo@v1", { warm: 2 })]);
}, 60_000);
afterAll(() => s?.close());

function spell(slug: string, base64: string, extra: Partial<PublishInput> = {}): PublishInput {
  return {
    slug,
    runtime: "wasm",
    artifact: { wasmBase64: base64 },
    visibility: "public",
    priceAmount: 0,
    config: { timeoutMs: TIMEOUT_MS },
    ...extra,
  };
}

async function expectServerAlive(tag: string): Promise<void> {
  const response = await s.execute(user, "echo@v1", { alive: tag });
  expect(response.status).toBe(200);
  expect(response.body.output).toEqual({ alive: tag });
}

describe("publish and execute a wasm spell over REST", () => {
  it("runs the wordcount module and answers its JSON output", async () => {
    const response = await s.execute(user, "wordcount@v1", { text: "the cat the hat" });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      ok: true,
      spell: { slug: "wordcount@v1", runtime: "wasm" },
      output: {
        words: 4,
        lines: 1,
        chars: 15,
        top: [
          { word: "the", count: 2 },
          { word: "cat", count: 1 },
          { word: "hat", count: 1 },
        ],
      },
      billing: { charged: false },
    });
  });

  it("a republished binary answers the very next execute", async () => {
    await s.h.publish(spell("swap@v1", await wasmBase64("echo")));
    const before = await s.execute(user, "swap@v1", { text: "one two" });
    expect(before.body.output).toEqual({ text: "one two" });

    await s.h.publish(spell("swap@v1", await wasmBase64("wordcount")));
    const after = await s.execute(user, "swap@v1", { text: "one two" });
    expect(after.status).toBe(200);
    expect(after.body.output).toMatchObject({ words: 2, top: [{ word: "one" }, { word: "two" }] });
  });

  it.each([
    ["an import from an unknown module", () => wasmBase64("unknown-import"), "forbidden_import"],
    [
      "bytes that are not wasm",
      async () => Buffer.from("#!/bin/sh\necho hi\n").toString("base64"),
      "not_wasm",
    ],
  ])("refuses %s with 422 ARTIFACT_INVALID", async (_what, bytes, reason) => {
    const admin = await s.h.admin();
    const response = await s.h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: spell("refused@v1", await bytes()),
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      ok: false,
      error: { code: "ARTIFACT_INVALID", details: { reason } },
    });
    const execute = await s.execute(user, "refused@v1");
    expect(execute.body.error.code).toBe("SPELL_NOT_FOUND");
  });
});

describe("hostile modules are contained", () => {
  it("an infinite loop answers 504 RUNTIME_TIMEOUT while a concurrent execute succeeds", async () => {
    const loop = s.execute(user, "loop@v1");
    const neighbour = await s.execute(user, "echo@v1", { beside: "loop" });
    expect(neighbour.status).toBe(200);
    expect(neighbour.body.output).toEqual({ beside: "loop" });

    const response = await loop;
    expect(response.status).toBe(504);
    expect(response.body.error).toMatchObject({
      code: "RUNTIME_TIMEOUT",
      details: { timeoutMs: TIMEOUT_MS },
    });
    await expectServerAlive("loop");
  });

  it.each([
    ["grow-bomb", 502, "RUNTIME_MEMORY_LIMIT", { memoryCapBytes: MEMORY_MB * 1024 * 1024 }],
    ["flood", 502, "RUNTIME_OUTPUT_LIMIT", { stream: "stdout", capBytes: 1024 * 1024 }],
    ["trap", 502, "RUNTIME_ERROR", { trap: "unreachable" }],
    ["exit-nonzero", 502, "RUNTIME_ERROR", { exitCode: 3, stderrTail: "boom: bad input\n" }],
  ])("%s answers %i %s and the server keeps serving", async (name, status, code, details) => {
    const response = await s.execute(user, `${name}@v1`);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ ok: false, error: { code, details } });
    await expectServerAlive(name);
  });

  it("keeps the guest's stderr in the execution's log", async () => {
    const caller = await s.h.user("stderr");
    const response = await s.execute(caller, "exit-nonzero@v1");
    expect(response.body.error.code).toBe("RUNTIME_ERROR");
    const rows = await s.h.testDb.database.prisma.execution.findMany({ where: { userId: caller.id } });
    expect(rows).toEqual([
      expect.objectContaining({
        slug: "exit-nonzero@v1",
        runtime: "wasm",
        status: "failed",
        errorCode: "RUNTIME_ERROR",
        log: "boom: bad input\n",
      }),
    ]);
  });
});

describe("a priced wasm spell that fails gives the money back", () => {
  it("a trap after payment answers 502 with refunded billing; Stripe saw a cancel and no capture", async () => {
    await s.h.publish(spell("trap-paid@v1", await wasmBase64("trap"), { priceAmount: 50, currency: "usd" }));
    const payer = await s.h.user("payer");
    await s.saveCard(payer);

    const response = await s.execute(payer, "trap-paid@v1");
    expect(response.status).toBe(502);
    expect(response.body.error).toMatchObject({
      code: "RUNTIME_ERROR",
      details: {
        trap: "unreachable",
        billing: { charged: false, refunded: true, amount: 50, currency: "usd" },
      },
    });
    const [record] = await s.h.testDb.database.prisma.billingRecord.findMany({
      where: { userId: payer.id },
    });
    expect(record?.id).toBe(response.body.error.details.billing.billingRecordId);
    const intentId = record?.paymentIntentId ?? "";
    expect(intentId).not.toBe("");
    const cancels = s.fake.requestsTo(`/v1/payment_intents/${intentId}/cancel`, "POST");
    const refunds = s.fake.requestsTo("/v1/refunds", "POST");
    expect(cancels.length + refunds.length).toBe(1);
    expect(s.fake.requestsTo(`/v1/payment_intents/${intentId}/capture`, "POST")).toHaveLength(0);
  });
});
