/**
 * Warm wasm call through the runtime vs. the floor it cannot beat, both measured in this run:
 *   baseline = the same module instantiated and run in this thread with the same WASI on a reused
 *              memory zeroed after each run (as a sandbox process does), plus one postMessage round
 *              trip to a worker thread carrying the same payloads.
 *
 *   pnpm --filter @spell/runtime-wasm exec tsx bench/wasm.bench.ts [iterations]
 *
 * Target: runtime p50 <= 1.5 x baseline p50.
 */
import { Worker } from "node:worker_threads";
import type { SpellRecord } from "@spell/engine";
import { importMemory } from "../src/binary.ts";
import { createWasmRuntime, prepareWasmArtifact } from "../src/index.ts";
import { runWasiCommand } from "../src/wasi.mjs";
import { wasmApi } from "../src/webassembly.ts";
import { committedBinary } from "../wasm/build.ts";

const ITERATIONS = Number(process.argv[2] ?? 2000);
const WARMUP = 200;
const MODULE = process.argv[3] ?? "wordcount";
const INPUT = { text: "the quick brown fox jumps over the lazy dog\n".repeat(20) };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

const fmt = (ms: number) => `${(ms * 1000).toFixed(0).padStart(6)} µs`;

async function main(): Promise<void> {
  const { binary, sha256 } = prepareWasmArtifact(committedBinary(MODULE));
  const spell: SpellRecord = {
    id: "spl_bench",
    slug: `${MODULE}@v1`,
    runtime: "wasm",
    config: {},
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "bench",
    artifact: { id: MODULE, builtin: null, apiEndpoint: null, wasmSha256: sha256, metadata: {} },
  };
  const runtime = createWasmRuntime({ loadBinary: async () => binary, poolSize: 1 });

  // Baseline parts: the same compiled module, the same WASI, the same memory reuse, in this thread…
  const sandboxed = importMemory(binary);
  const module = await wasmApi.compile(sandboxed.binary);
  const { Memory } = (
    globalThis as unknown as {
      WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };
    }
  ).WebAssembly;
  const memory = new Memory({
    initial: sandboxed.memory.initialPages,
    maximum: sandboxed.memory.maximumPages,
  });
  const stdin = Buffer.from(JSON.stringify(INPUT));
  const decoder = new TextDecoder();
  const rawRun = () => {
    const outcome = runWasiCommand(module, {
      stdin,
      stdoutCapBytes: 1 << 20,
      stderrCapBytes: 1 << 16,
      memory,
    });
    new Uint8Array(memory.buffer).fill(0);
    return JSON.parse(decoder.decode(outcome.stdout)) as unknown;
  };
  const expected = rawRun();
  // …plus one round trip to a worker carrying the same payloads.
  const echo = new Worker(
    `const { parentPort } = require("node:worker_threads");
     parentPort.on("message", (m) => parentPort.postMessage({ id: m.id, result: m.reply }));`,
    { eval: true },
  );
  let nextId = 0;
  const roundTrip = (reply: unknown) =>
    new Promise<void>((resolve) => {
      const id = nextId++;
      const onMessage = (message: { id: number }) => {
        if (message.id !== id) return;
        echo.off("message", onMessage);
        resolve();
      };
      echo.on("message", onMessage);
      echo.postMessage({ id, stdin, reply });
    });

  const baseline: number[] = [];
  const viaRuntime: number[] = [];
  for (let i = 0; i < WARMUP; i++) {
    await roundTrip(rawRun());
    await runtime.run({ executionId: "warm", spell, input: INPUT });
  }
  // Interleaved so that both see the same machine load.
  for (let i = 0; i < ITERATIONS; i++) {
    let started = performance.now();
    await roundTrip(rawRun());
    baseline.push(performance.now() - started);
    started = performance.now();
    const { output } = await runtime.run({ executionId: `exe_${i}`, spell, input: INPUT });
    viaRuntime.push(performance.now() - started);
    if (i === 0 && JSON.stringify(output) !== JSON.stringify(expected)) throw new Error("outputs differ");
  }

  // Throughput across a full pool, for the record.
  const pooled = createWasmRuntime({ loadBinary: async () => binary });
  await Promise.all(
    Array.from({ length: 8 }, () => pooled.run({ executionId: "warm", spell, input: INPUT })),
  );
  const concurrent = 1000;
  const startedAll = performance.now();
  await Promise.all(
    Array.from({ length: concurrent }, (_, i) => pooled.run({ executionId: `c_${i}`, spell, input: INPUT })),
  );
  const throughputMs = performance.now() - startedAll;

  const b = summary(baseline);
  const r = summary(viaRuntime);
  const ratio = r.p50 / b.p50;
  console.log(`wasm bench: ${MODULE}, ${stdin.length}-byte input, ${ITERATIONS} sequential warm calls`);
  console.log(`  baseline (in-thread run + worker round trip)  p50 ${fmt(b.p50)}  p99 ${fmt(b.p99)}`);
  console.log(`  runtime.run                                   p50 ${fmt(r.p50)}  p99 ${fmt(r.p99)}`);
  console.log(`  ratio p50 ${ratio.toFixed(2)}x (target <= 1.5x)  p99 ${(r.p99 / b.p99).toFixed(2)}x`);
  console.log(
    `  pool of ${(await import("node:os")).availableParallelism()}: ${concurrent} concurrent calls in ${throughputMs.toFixed(0)} ms (${((concurrent / throughputMs) * 1000).toFixed(0)} calls/s)`,
  );
  console.log(
    JSON.stringify({
      bench: "wasm",
      baseline: b,
      runtime: r,
      ratioP50: ratio,
      concurrentCallsPerSec: (concurrent / throughputMs) * 1000,
    }),
  );

  await echo.terminate();
  await runtime.close();
  await pooled.close();
}

await main();
