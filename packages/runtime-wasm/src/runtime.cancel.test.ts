import { AppError } from "@spell/contracts";
import type { SpellRecord } from "@spell/engine";
import { afterAll, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { createWasmRuntime, prepareWasmArtifact } from "./index.ts";
import { cpuTicks, sandboxPids } from "./testing/index.ts";

// A canceled run (issue 13): the invocation's signal aborts → its sandbox process is killed at once,
// the other callers' processes keep running, and the pool serves the next call.

const MIB = 1024 * 1024;
const limits = { memoryCapBytes: 16 * MIB };
const binaries = new Map<string, Uint8Array>();

function spell(name: string, timeoutMs: number): SpellRecord {
  const { binary, sha256 } = prepareWasmArtifact(committedBinary(name), limits);
  binaries.set(name, binary);
  return {
    id: `spl_${name}_${timeoutMs}`,
    slug: `${name}@v1`,
    runtime: "wasm",
    config: { timeoutMs },
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "user_1",
    artifact: { id: name, builtin: null, apiEndpoint: null, wasmSha256: sha256, metadata: {} },
  };
}

const runtime = createWasmRuntime({
  loadBinary: async (id) => {
    const binary = binaries.get(id);
    if (!binary) throw new Error(`no artifact ${id}`);
    return binary;
  },
  poolSize: 2,
  reservedWorkers: 0,
  limits,
});
afterAll(() => runtime.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function settled(promise: Promise<unknown>): Promise<{ code: string; elapsedMs: number }> {
  const started = performance.now();
  try {
    await promise;
    return { code: "OK", elapsedMs: performance.now() - started };
  } catch (error) {
    return {
      code: error instanceof AppError ? error.code : String(error),
      elapsedMs: performance.now() - started,
    };
  }
}

describe("wasm runtime: an aborted invocation", () => {
  it("kills only its own sandbox process; the other call runs on; the next call works", async () => {
    const echo = spell("echo", 5_000);
    await Promise.all([
      runtime.run({ executionId: "w1", spell: echo, input: {}, callerId: "a" }),
      runtime.run({ executionId: "w2", spell: echo, input: {}, callerId: "b" }),
    ]);
    // A deadline far beyond every bound below: what ends the canceled guest is the abort, not its timeout.
    const loop = spell("loop", 6_000);
    const controller = new AbortController();
    const canceled = settled(
      runtime.run({ executionId: "c", spell: loop, input: {}, callerId: "a", signal: controller.signal }),
    );
    const other = settled(runtime.run({ executionId: "o", spell: loop, input: {}, callerId: "b" }));
    await expect.poll(() => runtime.stats().busy).toBe(2);
    // Both guests spin: find the two processes burning CPU.
    const before = new Map(sandboxPids().map((pid) => [pid, cpuTicks(pid)]));
    await sleep(300);
    const spinning = [...before].filter(([pid, ticks]) => cpuTicks(pid) > ticks).map(([pid]) => pid);
    expect(spinning).toHaveLength(2);

    const abortedAt = performance.now();
    controller.abort();
    const result = await canceled;
    expect(result.code).toBe("EXECUTION_CANCELED");
    expect(performance.now() - abortedAt).toBeLessThan(2_000);
    // Exactly one of the two spinning processes is gone, long before the guests' deadline.
    await expect
      .poll(() => spinning.filter((pid) => cpuTicks(pid) >= 0).length, { timeout: 4_000, interval: 20 })
      .toBe(1);
    expect(runtime.stats().busy).toBe(1);

    // The other caller's guest was not touched: it ends at its own deadline, not as a crash.
    const survivor = await other;
    expect(survivor.code).toBe("RUNTIME_TIMEOUT");
    expect(survivor.elapsedMs).toBeGreaterThan(5_000);
    await expect(
      runtime.run({ executionId: "n", spell: echo, input: { after: 1 }, callerId: "a" }),
    ).resolves.toEqual({ output: { after: 1 } });
  }, 20_000);

  it("a call still waiting for a process leaves the queue at once; one aborted before it starts never runs", async () => {
    const loop = spell("loop", 1_000);
    const echo = spell("echo", 5_000);
    const busy = [
      settled(runtime.run({ executionId: "b1", spell: loop, input: {}, callerId: "x" })),
      settled(runtime.run({ executionId: "b2", spell: loop, input: {}, callerId: "y" })),
    ];
    await expect.poll(() => runtime.stats().busy).toBe(2);
    const controller = new AbortController();
    const waiting = settled(
      runtime.run({ executionId: "q", spell: echo, input: {}, callerId: "z", signal: controller.signal }),
    );
    await expect.poll(() => runtime.stats().queued).toBe(1);
    controller.abort();
    const dropped = await waiting;
    expect(dropped.code).toBe("EXECUTION_CANCELED");
    expect(runtime.stats()).toMatchObject({ busy: 2, queued: 0 });
    expect((await Promise.all(busy)).map((result) => result.code)).toEqual([
      "RUNTIME_TIMEOUT",
      "RUNTIME_TIMEOUT",
    ]);

    const pidsBefore = sandboxPids().length;
    const early = await settled(
      runtime.run({ executionId: "e", spell: echo, input: {}, callerId: "z", signal: AbortSignal.abort() }),
    );
    expect(early.code).toBe("EXECUTION_CANCELED");
    expect(runtime.stats()).toMatchObject({ busy: 0, queued: 0 });
    expect(sandboxPids().length).toBe(pidsBefore);
  }, 20_000);
});
