import { readFileSync } from "node:fs";
import { AppError } from "@spell/contracts";
import type { SpellRecord } from "@spell/engine";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { createWasmRuntime, prepareWasmArtifact, WASM_DEMOS } from "./index.ts";

const MIB = 1024 * 1024;
const TIMEOUT_MS = 500;
/** How late a timeout may answer: the timer runs on the main thread, so only event-loop delay adds. */
const LATE_MS = 100;

/** An in-memory artifact store: name → prepared binary, as the publish path would store it. */
function artifactStore(limits: { memoryCapBytes: number }) {
  const binaries = new Map<string, Uint8Array>();
  const spells = new Map<string, SpellRecord>();
  const loads: string[] = [];
  function spell(name: string, config: Record<string, unknown> = { timeoutMs: TIMEOUT_MS }): SpellRecord {
    const key = `${name}:${JSON.stringify(config)}`;
    const existing = spells.get(key);
    if (existing) return existing;
    const { binary, sha256 } = prepareWasmArtifact(committedBinary(name), limits);
    binaries.set(name, binary);
    const record: SpellRecord = {
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
    spells.set(key, record);
    return record;
  }
  async function loadBinary(id: string): Promise<Uint8Array> {
    loads.push(id);
    const binary = binaries.get(id);
    if (!binary) throw new Error(`no artifact ${id}`);
    return binary;
  }
  return { spell, loadBinary, loads };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected the run to fail");
}

const limits = { memoryCapBytes: 16 * MIB };
const store = artifactStore(limits);
const runtime = createWasmRuntime({ loadBinary: store.loadBinary, poolSize: 2, limits });
const run = (name: string, input: Record<string, unknown> = {}, config?: Record<string, unknown>) =>
  runtime.run({ executionId: "exe_test", spell: store.spell(name, config), input });

/** Both workers up and idle, so a timed call starts at once instead of waiting for a spawn. */
async function warm(): Promise<void> {
  await Promise.all([run("echo", { warm: 1 }), run("echo", { warm: 2 })]);
}

afterAll(() => runtime.close());

describe("wasm runtime: the ABI", () => {
  beforeAll(warm);

  it("runs the C, Rust and AssemblyScript echo examples", async () => {
    const input = { text: 'héllo "world"', n: [1, 2, { deep: true }] };
    for (const name of ["echo-c", "echo-rust", "echo-as"]) {
      await expect(run(name, input), name).resolves.toEqual({ output: { echo: input } });
    }
  });

  it("runs the wordcount demo", async () => {
    const { output } = await run("wordcount", { text: "The cat and the hat.\nThe END\u00e9 café café" });
    expect(output).toEqual({
      words: 9,
      lines: 2,
      chars: 39,
      top: [
        { word: "the", count: 3 },
        { word: "café", count: 2 },
        { word: "and", count: 1 },
        { word: "cat", count: 1 },
        { word: "endé", count: 1 },
        { word: "hat", count: 1 },
      ],
    });
  });

  it("fails a demo with its exit code and stderr when the input lacks a field", async () => {
    const error = await failure(run("wordcount", { words: "no text field" }));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toMatchObject({ exitCode: 2, stderrTail: 'wordcount: missing "text"\n' });
  });

  it("gives every call a fresh instance (a global counter never carries over)", async () => {
    const outputs = [];
    for (let i = 0; i < 4; i++) outputs.push((await run("counter")).output);
    expect(outputs).toEqual(Array(4).fill({ count: 1 }));
  });

  it("compiles an artifact once and serves later calls from the module cache", async () => {
    const before = store.loads.filter((id) => id === "echo-as").length;
    await run("echo-as", { a: 1 });
    await run("echo-as", { a: 2 });
    expect(store.loads.filter((id) => id === "echo-as").length).toBe(before);
  });

  it("answers ENOSYS for preview1 functions the sandbox does not offer", async () => {
    await expect(run("unimplemented")).resolves.toEqual({ output: { sock: "52", renumber: "52" } });
  });

  it("runs 100 concurrent executions across the pool", async () => {
    const texts = Array.from({ length: 100 }, (_, i) => `word${i} `.repeat((i % 7) + 1));
    const results = await Promise.all(texts.map((text) => run("wordcount", { text })));
    results.forEach(({ output }, i) => {
      expect(output).toMatchObject({ words: (i % 7) + 1, top: [{ word: `word${i}`, count: (i % 7) + 1 }] });
    });
  });

  it("ships its demos as files that prepare and run", async () => {
    for (const demo of WASM_DEMOS) {
      expect(() => prepareWasmArtifact(new Uint8Array(readFileSync(demo.file)))).not.toThrow();
    }
    expect(WASM_DEMOS.map((demo) => demo.slug)).toContain("wordcount@v1");
  });
});

describe("wasm runtime: hostile modules are contained", () => {
  beforeEach(warm);

  /** Runs the hostile module next to a well-behaved one and checks the latter is untouched. */
  async function contained(name: string, input: Record<string, unknown> = {}) {
    const started = performance.now();
    const hostile = run(name, input).then(
      (result) => ({ result, error: null, ms: performance.now() - started }),
      (error: unknown) => ({ result: null, error: error as AppError, ms: performance.now() - started }),
    );
    const neighbour = await run("echo-c", { beside: name });
    expect(neighbour.output).toEqual({ echo: { beside: name } });
    const outcome = await hostile;
    await expect(run("echo", { after: name })).resolves.toEqual({ output: { after: name } });
    return outcome;
  }

  const timeouts = ["loop", "stdin-forever"];
  it.each(timeouts)("%s times out with RUNTIME_TIMEOUT within the limit", async (name) => {
    const { error, ms } = await contained(name);
    expect(error?.code).toBe("RUNTIME_TIMEOUT");
    expect(error?.details).toEqual({ timeoutMs: TIMEOUT_MS });
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(ms).toBeLessThan(TIMEOUT_MS + LATE_MS);
  });

  it("a memory-grow bomb stops at the cap with RUNTIME_MEMORY_LIMIT", async () => {
    const { error, ms } = await contained("grow-bomb");
    expect(error?.code).toBe("RUNTIME_MEMORY_LIMIT");
    expect(error?.details.memoryCapBytes).toBe(16 * MIB);
    expect(ms).toBeLessThan(TIMEOUT_MS + LATE_MS);
  });

  it("reading /etc/passwd finds no directory to open it from", async () => {
    const { result } = await contained("read-passwd");
    // EBADF (8) for prestat and read, ENOTCAPABLE (76) for path_open: nothing was opened.
    expect(result?.output).toEqual({ prestat: "08", open: "76", read: "08" });
  });

  it("dumping the environment finds it empty", async () => {
    const { result } = await contained("environ");
    expect(result?.output).toEqual({ env: "00/00000", args: "00/00000" });
  });

  it.each([
    ["flood", "stdout", 1 * MIB],
    ["flood-stderr", "stderr", 64 * 1024],
  ])("%s is stopped with RUNTIME_OUTPUT_LIMIT", async (name, stream, capBytes) => {
    const { error, ms } = await contained(name);
    expect(error?.code).toBe("RUNTIME_OUTPUT_LIMIT");
    expect(error?.details).toEqual({ stream, capBytes });
    expect(ms).toBeLessThan(TIMEOUT_MS);
  });

  it("a trap answers RUNTIME_ERROR with the trap message", async () => {
    const { error } = await contained("trap");
    expect(error?.code).toBe("RUNTIME_ERROR");
    expect(error?.details.trap).toBe("unreachable");
  });

  it("a stack overflow answers RUNTIME_ERROR and leaves the worker usable", async () => {
    const { error } = await contained("stack-overflow");
    expect(error?.code).toBe("RUNTIME_ERROR");
    expect(error?.details.trap).toBe("stack overflow");
  });

  it("sleeping through poll_oneoff is refused at once", async () => {
    const { result, ms } = await contained("sleep");
    expect(result?.output).toEqual({ pollErrno: 58 });
    expect(ms).toBeLessThan(TIMEOUT_MS);
  });

  it("stdout that is not JSON answers RUNTIME_ERROR", async () => {
    const { error } = await contained("not-json");
    expect(error?.code).toBe("RUNTIME_ERROR");
    expect(error?.details.stdoutHead).toBe("hello, not json\n");
  });

  it("a non-zero exit answers RUNTIME_ERROR with the code and the stderr tail", async () => {
    const { error } = await contained("exit-nonzero");
    expect(error?.code).toBe("RUNTIME_ERROR");
    expect(error?.details).toMatchObject({ exitCode: 3, stderrTail: "boom: bad input\n" });
  });
});

describe("wasm runtime: limits and failures around the guest", () => {
  it("clamps a spell's timeoutMs to maxTimeoutMs", async () => {
    const small = { memoryCapBytes: 16 * MIB, maxTimeoutMs: 300, defaultTimeoutMs: 200 };
    const local = artifactStore(small);
    const clamped = createWasmRuntime({ loadBinary: local.loadBinary, poolSize: 1, limits: small });
    try {
      const error = await failure(
        clamped.run({ executionId: "e", spell: local.spell("loop", { timeoutMs: 60_000 }), input: {} }),
      );
      expect(error.code).toBe("RUNTIME_TIMEOUT");
      expect(error.details.timeoutMs).toBe(300);
    } finally {
      await clamped.close();
    }
  });

  it("bounds the wait for a busy pool with SERVICE_UNAVAILABLE", async () => {
    const local = artifactStore(limits);
    // Generous wait: the first call also waits for a sandbox process to start (~60 ms idle).
    const busy = createWasmRuntime({
      loadBinary: local.loadBinary,
      poolSize: 1,
      reservedWorkers: 0,
      limits,
      maxQueueWaitMs: 400,
    });
    try {
      await busy.run({ executionId: "e0", spell: local.spell("echo"), input: {} });
      const hog = failure(
        busy.run({ executionId: "e1", spell: local.spell("loop", { timeoutMs: 1200 }), input: {} }),
      );
      // Lets the hog's module compile and take the only worker.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const queued = await failure(busy.run({ executionId: "e2", spell: local.spell("echo"), input: {} }));
      expect(queued.code).toBe("SERVICE_UNAVAILABLE");
      expect(queued.details).toEqual({ queueWaitMs: 400 });
      expect((await hog).code).toBe("RUNTIME_TIMEOUT");
    } finally {
      await busy.close();
    }
  });

  it("re-sends a module a worker dropped from its cache", async () => {
    const local = artifactStore(limits);
    const small = createWasmRuntime({
      loadBinary: local.loadBinary,
      poolSize: 1,
      limits,
      moduleCacheSize: 2,
    });
    try {
      for (const name of ["echo", "counter", "environ", "echo", "counter", "environ"]) {
        await expect(
          small.run({ executionId: "e", spell: local.spell(name), input: { name } }),
        ).resolves.toHaveProperty("output");
      }
      expect(local.loads.filter((id) => id === "echo")).toHaveLength(2);
    } finally {
      await small.close();
    }
  });

  it("refuses a stored binary that does not match its sha256", async () => {
    const local = artifactStore(limits);
    const spell = local.spell("echo");
    const tampered = createWasmRuntime({
      loadBinary: async () => prepareWasmArtifact(committedBinary("environ"), limits).binary,
      poolSize: 1,
      limits,
    });
    try {
      const error = await failure(tampered.run({ executionId: "e", spell, input: {} }));
      expect(error.code).toBe("RUNTIME_ERROR");
      expect(error.message).toContain("sha256");
    } finally {
      await tampered.close();
    }
  });
});
