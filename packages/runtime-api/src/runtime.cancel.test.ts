import { AppError } from "@spell/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiRuntime } from "./runtime.ts";
import { apiSpell, startUpstream, type TestUpstream } from "./testing/index.ts";

// A canceled run (issue 13): the invocation's signal aborts the upstream request, which the
// upstream sees as its connection closing before it answered.

let upstream: TestUpstream;
let base: string;
/** Requests to /hold whose connection closed before any answer was written. */
let abortedByClient = 0;
let heldNow = 0;
const runtime = createApiRuntime({
  allowedHosts: ["127.0.0.1"],
  requireHttps: false,
  secrets: {},
  signingKey: "test-signing-key",
});

beforeAll(async () => {
  upstream = await startUpstream((request, res) => {
    if (new URL(request.url, "http://upstream").pathname === "/hold") {
      heldNow++;
      res.on("close", () => {
        heldNow--;
        if (!res.writableFinished) abortedByClient++;
      });
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ok: true }));
  });
  base = `http://127.0.0.1:${upstream.port}`;
});

afterAll(async () => {
  await runtime.close();
  await upstream.close();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "OK";
  } catch (error) {
    return error instanceof AppError ? error.code : String(error);
  }
}

describe("api runtime: an aborted invocation", () => {
  it("aborts the upstream request at once: the upstream sees its connection close unanswered", async () => {
    const controller = new AbortController();
    const spell = apiSpell(`${base}/hold`, { timeoutMs: 10_000 });
    const run = codeOf(
      runtime.run({ executionId: "exe_cancel", spell, input: {}, signal: controller.signal }),
    );
    await expect.poll(() => heldNow).toBe(1);
    const abortedAt = performance.now();
    controller.abort();
    expect(await run).toBe("EXECUTION_CANCELED");
    expect(performance.now() - abortedAt).toBeLessThan(5_000);
    await expect.poll(() => abortedByClient).toBe(1);
    expect(heldNow).toBe(0);
    // The keep-alive pool still serves the next run.
    await expect(
      runtime.run({ executionId: "exe_next", spell: apiSpell(`${base}/ok`), input: {} }),
    ).resolves.toEqual({ output: { ok: true } });
  });

  it("a signal aborted before the run starts sends nothing", async () => {
    const before = upstream.seen.length;
    const code = await codeOf(
      runtime.run({
        executionId: "exe_early",
        spell: apiSpell(`${base}/ok`),
        input: {},
        signal: AbortSignal.abort(),
      }),
    );
    expect(code).toBe("EXECUTION_CANCELED");
    expect(upstream.seen.length).toBe(before);
  });
});
