import { spawnSync } from "node:child_process";
import { AppError } from "@spell/contracts";
import type { RuntimeInvocation, SpellRecord } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { generateModule } from "../wasm/generate.ts";
import { MODULE_BOUNDS } from "./binary.ts";
import { createWasmRuntime, prepareWasmArtifact } from "./index.ts";
import { WorkerPool } from "./pool.ts";

/**
 * The hostile wasm corpus: one module per resource a guest can try to exhaust, each contained with
 * its error code while good modules keep answering and this process stays up.
 */

const MIB = 1024 * 1024;
const limits = { memoryCapBytes: 16 * MIB, stdinCapBytes: 2 * MIB };

function store() {
  const binaries = new Map<string, Uint8Array>();
  return {
    spell(name: string, config: Record<string, unknown> = { timeoutMs: 1000 }): SpellRecord {
      const { binary, sha256 } = prepareWasmArtifact(committedBinary(name), limits);
      binaries.set(name, binary);
      return {
        id: `spl_${name}`,
        slug: `${name}@v1`,
        runtime: "wasm",
        config,
        price: { amount: 0, currency: "usd" },
        visibility: "public",
        teamId: null,
        createdBy: "user_1",
        artifact: { id: name, builtin: null, apiEndpoint: null, wasmSha256: sha256, metadata: {} },
      };
    },
    loadBinary: async (id: string) => {
      const binary = binaries.get(id);
      if (!binary) throw new Error(`no artifact ${id}`);
      return binary;
    },
  };
}

async function outcome(
  promise: Promise<unknown>,
): Promise<{ code: string | null; details: Record<string, unknown> }> {
  try {
    await promise;
    return { code: null, details: {} };
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, details: error.details };
    throw error;
  }
}

function refusalOf(bytes: Uint8Array, memoryCapBytes = limits.memoryCapBytes): AppError {
  try {
    prepareWasmArtifact(bytes, { ...limits, memoryCapBytes });
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected the module to be refused");
}

describe("publish bounds everything a module declares", () => {
  const cases: [string, () => Uint8Array, string, Record<string, unknown>, number?][] = [
    ["a 10-million-entry table (59 bytes)", () => committedBinary("huge-table"), "table_too_large", {}],
    [
      "too many tables",
      () => generateModule({ tables: MODULE_BOUNDS.tables + 1 }),
      "too_many",
      { what: "tables" },
    ],
    [
      "too many globals",
      () => generateModule({ globals: MODULE_BOUNDS.globals + 1 }),
      "too_many",
      { what: "globals" },
    ],
    [
      "too many functions",
      () => generateModule({ functions: MODULE_BOUNDS.functions + 1 }),
      "too_many",
      { what: "functions" },
    ],
    [
      "too many exports",
      () => generateModule({ exports: MODULE_BOUNDS.exports + 1 }),
      "too_many",
      { what: "exports" },
    ],
    [
      "too many element segments",
      () => generateModule({ elementSegments: MODULE_BOUNDS.elementSegments + 1 }),
      "too_many",
      { what: "elementSegments" },
    ],
    [
      "too many element entries",
      () => generateModule({ elementSegments: 3, elementsPerSegment: MODULE_BOUNDS.elements / 2 }),
      "too_many",
      { what: "elements" },
    ],
    [
      "too many data segments",
      () => generateModule({ dataSegments: MODULE_BOUNDS.dataSegments + 1 }),
      "too_many",
      { what: "dataSegments" },
    ],
    [
      "data segments larger than the memory cap",
      () => generateModule({ dataSegments: 3, dataSegmentBytes: 512 * 1024 }),
      "data_too_large",
      { memoryCapBytes: MIB, dataBytes: 3 * 512 * 1024 },
      MIB,
    ],
  ];

  it.each(cases)("refuses %s", (_name, make, reason, details, memoryCapBytes) => {
    const error = refusalOf(make(), memoryCapBytes);
    expect(error.code).toBe("ARTIFACT_INVALID");
    expect(error.details).toMatchObject({ reason, ...details });
  });

  it("accepts a module at the bounds and caps a table without a maximum", () => {
    const atBounds = generateModule({ globals: MODULE_BOUNDS.globals, tables: MODULE_BOUNDS.tables });
    const { binary } = prepareWasmArtifact(atBounds, limits);
    // table-grow declares `(table 1 funcref)`: the prepared binary carries the maximum.
    const tableGrow = prepareWasmArtifact(committedBinary("table-grow"), limits).binary;
    expect(Buffer.from(tableGrow).includes(Buffer.from([0x70, 0x01, 0x01, 0xa0, 0x8d, 0x06]))).toBe(true);
    expect(binary.length).toBeGreaterThan(0);
  });
});

describe("the runtime contains what it cannot check statically", () => {
  const artifacts = store();
  const runtime = createWasmRuntime({ loadBinary: artifacts.loadBinary, poolSize: 2, limits });
  const run = (name: string, input: Record<string, unknown> = {}, extra: Partial<RuntimeInvocation> = {}) =>
    runtime.run({ executionId: "exe_hostile", spell: artifacts.spell(name), input, ...extra });
  afterAll(() => runtime.close());
  beforeAll(async () => {
    await Promise.all([run("echo", { warm: 1 }), run("echo", { warm: 2 })]);
  });

  const expectations: [string, string, Record<string, unknown>][] = [
    ["table-grow", "RUNTIME_ERROR", { trap: "unreachable" }],
    ["grow-bomb", "RUNTIME_MEMORY_LIMIT", { memoryCapBytes: 16 * MIB }],
    ["stack-overflow", "RUNTIME_ERROR", { trap: "stack overflow" }],
    ["loop", "RUNTIME_TIMEOUT", { timeoutMs: 1000 }],
    ["start-loop", "RUNTIME_TIMEOUT", { timeoutMs: 1000 }],
    ["stdin-forever", "RUNTIME_TIMEOUT", { timeoutMs: 1000 }],
    ["flood", "RUNTIME_OUTPUT_LIMIT", { stream: "stdout" }],
    ["flood-stderr", "RUNTIME_OUTPUT_LIMIT", { stream: "stderr" }],
    ["data-out-of-bounds", "RUNTIME_ERROR", {}],
  ];

  it.each(expectations)("%s → %s, a good module answering beside it", async (name, code, details) => {
    const hostile = outcome(run(name));
    await expect(run("wordcount", { text: "beside it" })).resolves.toMatchObject({
      output: { words: 2 },
    });
    const result = await hostile;
    expect(result.code).toBe(code);
    expect(result.details).toMatchObject(details);
    await expect(run("echo-c", { after: name })).resolves.toEqual({ output: { echo: { after: name } } });
  });

  it("an input over the stdin cap is refused before it reaches a guest", async () => {
    const result = await outcome(run("echo-c", { flood: "x".repeat(3 * MIB) }));
    expect(result).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: 2 * MIB } });
  });

  it("many concurrent hostile calls: every one contained, every good call answered", async () => {
    const hostile = expectations.flatMap(([name, code]) => [0, 1].map(() => ({ name, code })));
    const started = performance.now();
    const [bad, good] = await Promise.all([
      Promise.all(hostile.map(({ name }) => outcome(run(name, {}, { callerId: "attacker" })))),
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          run("wordcount", { text: `good ${i}` }, { callerId: `user_${i % 4}` }),
        ),
      ),
    ]);
    expect(bad.map((result) => result.code)).toEqual(hostile.map(({ code }) => code));
    expect(good.every((result) => (result.output as { words: number }).words === 2)).toBe(true);
    // 18 hostile calls, six of them run to their 1 s timeout, over 2 + 1 processes.
    expect(performance.now() - started).toBeLessThan(15_000);
    await expect(run("echo", { still: "up" })).resolves.toEqual({ output: { still: "up" } });
  }, 30_000);
});

describe("a guest that makes V8 abort costs one sandbox process, not the server", () => {
  const raw = (name: string) => committedBinary(name);

  it("in a worker thread, the same module aborts the whole process (why guests run in processes)", () => {
    const script = `
      const { Worker } = require("node:worker_threads");
      const bytes = require("node:fs").readFileSync(process.argv[1]);
      const w = new Worker("const { workerData } = require('node:worker_threads'); new WebAssembly.Instance(new WebAssembly.Module(workerData), {});",
        { eval: true, workerData: bytes, resourceLimits: { maxOldGenerationSizeMb: 64 } });
      w.on("error", () => { console.log("contained"); process.exit(0); });
      w.on("exit", () => { console.log("contained"); process.exit(0); });`;
    const path = new URL("../wasm/bin/huge-table.wasm", import.meta.url).pathname;
    const child = spawnSync(process.execPath, ["-e", script, path], { encoding: "utf8", timeout: 30_000 });
    // If a Node upgrade ever contains this in the worker, this test fails and says so.
    expect(child.stdout).not.toContain("contained");
    expect(child.signal ?? child.status).toBe(child.signal ? "SIGABRT" : 134);
  }, 40_000);

  it.each(["huge-table", "table-grow"])(
    "%s unpatched: the process dies of OOM, the call is a memory failure, the pool respawns",
    async (name) => {
      const pool = new WorkerPool({
        size: 1,
        reserved: 0,
        maxMemPages: 4096,
        // As if the V8 backstop were V8's default: the abort must still be contained.
        maxTableEntries: 10_000_000,
        maxQueueWaitMs: 30_000,
        maxQueueLength: 10,
        maxQueuePerCaller: 10,
        modulesPerWorker: 4,
        heapMb: 64,
      });
      const job = (sha: string, binary: Uint8Array) => ({
        callerKey: "test",
        sha,
        binary,
        compileTimeoutMs: 10_000,
        stdin: "{}",
        timeoutMs: 20_000,
        stdoutCapBytes: MIB,
        stderrCapBytes: 64 * 1024,
      });
      try {
        await expect(pool.run(job("echo", raw("echo")))).resolves.toMatchObject({ kind: "exit", code: 0 });
        const before = pool.pids;
        const result = await pool.run(job(name, raw(name)));
        expect(result).toMatchObject({ kind: "crashed", outOfMemory: true });
        await expect(pool.run(job("echo", raw("echo")))).resolves.toMatchObject({
          kind: "exit",
          code: 0,
          output: {},
        });
        expect(pool.pids).not.toEqual(before);
        expect(process.pid).toBeGreaterThan(0);
      } finally {
        await pool.close();
      }
    },
    60_000,
  );
});

describe("the queue is fair across callers", () => {
  it("one caller's flood of slow calls: another caller's call starts at once on the reserved process", async () => {
    const artifacts = store();
    const runtime = createWasmRuntime({
      loadBinary: artifacts.loadBinary,
      poolSize: 1,
      reservedWorkers: 1,
      limits,
    });
    try {
      await runtime.run({ executionId: "w", spell: artifacts.spell("echo"), input: {}, callerId: "honest" });
      const slow = artifacts.spell("loop", { timeoutMs: 1000 });
      const flood = Array.from({ length: 4 }, () =>
        outcome(runtime.run({ executionId: "f", spell: slow, input: {}, callerId: "flooder" })),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      await expect(
        runtime.run({
          executionId: "h",
          spell: artifacts.spell("echo"),
          input: { hi: 1 },
          callerId: "honest",
        }),
      ).resolves.toEqual({ output: { hi: 1 } });
      // In FIFO order this call would wait for four 1 s timeouts.
      expect(performance.now() - started).toBeLessThan(800);
      expect((await Promise.all(flood)).map((result) => result.code)).toEqual(
        Array(4).fill("RUNTIME_TIMEOUT"),
      );
    } finally {
      await runtime.close();
    }
  }, 30_000);

  it("without a reserve, callers take turns: one queued call waits for at most one of the flood's", async () => {
    const artifacts = store();
    const runtime = createWasmRuntime({
      loadBinary: artifacts.loadBinary,
      poolSize: 1,
      reservedWorkers: 0,
      limits,
    });
    try {
      await runtime.run({ executionId: "w", spell: artifacts.spell("echo"), input: {}, callerId: "honest" });
      const slow = artifacts.spell("loop", { timeoutMs: 600 });
      const flood = Array.from({ length: 5 }, () =>
        outcome(runtime.run({ executionId: "f", spell: slow, input: {}, callerId: "flooder" })),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await runtime.run({ executionId: "h", spell: artifacts.spell("echo"), input: {}, callerId: "honest" });
      // FIFO: ~5 × 600 ms. In turns: the running call, then this one (plus a process respawn).
      expect(performance.now() - started).toBeLessThan(2000);
      await Promise.all(flood);
    } finally {
      await runtime.close();
    }
  }, 30_000);

  it("one caller cannot fill the whole queue", async () => {
    const artifacts = store();
    const runtime = createWasmRuntime({
      loadBinary: artifacts.loadBinary,
      poolSize: 1,
      reservedWorkers: 0,
      maxQueueLength: 10,
      maxQueuePerCaller: 2,
      limits,
    });
    try {
      await runtime.run({ executionId: "w", spell: artifacts.spell("echo"), input: {}, callerId: "other" });
      const slow = artifacts.spell("loop", { timeoutMs: 300 });
      const calls = Array.from({ length: 4 }, () =>
        outcome(runtime.run({ executionId: "f", spell: slow, input: {}, callerId: "flooder" })),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const other = runtime.run({
        executionId: "o",
        spell: artifacts.spell("echo"),
        input: {},
        callerId: "other",
      });
      const codes = (await Promise.all(calls)).map((result) => result.code);
      expect(codes.filter((code) => code === "SERVICE_UNAVAILABLE")).toHaveLength(1);
      await expect(other).resolves.toEqual({ output: {} });
    } finally {
      await runtime.close();
    }
  }, 30_000);
});
