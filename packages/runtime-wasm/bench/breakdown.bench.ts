/**
 * Where the time of one warm wasm call goes (µs), part by part, then the whole call through the
 * runtime with the CPU it costs on each side of the process boundary. Not run in CI.
 *
 *   pnpm --filter @spell/runtime-wasm bench:breakdown [module=echo-c] [iterations=5000]
 *
 * 1. In one process started with the sandbox's V8 flags (same heap limits, so the same GC):
 *    compile (once per module and sandbox process), instantiate on the module's own memory (what
 *    every call paid before memories were reused) and on a zeroed reused memory, zeroing it, the
 *    WASI run (shim, `_start`, capture), decoding and parsing stdout.
 * 2. The IPC hand-off alone, parent → child → parent, with task- and result-shaped messages, under
 *    V8 (`advanced`) and JSON serialization.
 * 3. `sandbox.mjs` driven directly (the pool's messages, no pool): round trip and CPU per call.
 * 4. `runtime.run` end to end: sequential, then 16 calls in flight over the default pool.
 *
 * CPU is read from /proc (utime + stime, 10 ms ticks; thousands of calls make that fine): "parent"
 * is this process, "sandbox" the sandbox processes. Each figure is a median or a mean over the
 * iterations after a warm-up; on a shared machine compare figures of the same run only.
 */
import { type ChildProcess, fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type { SpellRecord } from "@spell/engine";
import { checkAndPatch, importMemory, MODULE_BOUNDS, WASM_PAGE_BYTES } from "../src/binary.ts";
import { createWasmRuntime, DEFAULT_WASM_LIMITS, WASM_MEMORY_CAP_CEILING_BYTES } from "../src/runtime.ts";
import { runWasiCommand, SANDBOX_MEMORY_IMPORT } from "../src/wasi.mjs";
import { committedBinary } from "../wasm/build.ts";

const MODULE = process.argv[2] ?? "echo-c";
const ITERATIONS = Number(process.argv[3] ?? 5000);
const WARMUP = Math.min(1000, ITERATIONS);
const INPUT = { hello: "world" };
const CLOCK_TICK_US = 10_000;
/** The flags `WorkerPool` starts each sandbox process with (pool.ts `spawn`), heap 64 MB. */
const SANDBOX_FLAGS = [
  "--max-old-space-size=64",
  "--max-semi-space-size=4",
  `--wasm-max-mem-pages=${WASM_MEMORY_CAP_CEILING_BYTES / WASM_PAGE_BYTES}`,
  `--wasm-max-table-size=${MODULE_BOUNDS.tableEntries}`,
];
const HERE = fileURLToPath(new URL(".", import.meta.url));

type Row = [label: string, p50Us: number, meanUs: number, cpuUs?: string];
const rows: Row[] = [];

function prepared(): Uint8Array {
  return checkAndPatch(committedBinary(MODULE), DEFAULT_WASM_LIMITS).binary;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Times `fn` per call (µs): p50, mean, and this process's CPU per call. */
function timeSync(fn: () => void): { p50: number; mean: number; cpu: number } {
  for (let i = 0; i < WARMUP; i++) fn();
  const samples = new Array<number>(ITERATIONS);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    fn();
    samples[i] = (performance.now() - t) * 1000;
  }
  const wall = (performance.now() - started) * 1000;
  const cpu = process.cpuUsage(cpu0);
  return { p50: median(samples), mean: wall / ITERATIONS, cpu: (cpu.user + cpu.system) / ITERATIONS };
}

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_US;
}

/** Processes this one started (the runtime's sandboxes), from /proc. */
function childPids(): number[] {
  return readdirSync("/proc/self/task").flatMap((tid) =>
    readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number),
  );
}
const childrenCpu = () => childPids().reduce((total, pid) => total + cpuOf(pid), 0);

// ---- 1. the parts, in a process with the sandbox's flags ----------------------------------------

function phases(): void {
  const binary = prepared();
  const sandboxed = importMemory(binary);
  const stdin = Buffer.from(JSON.stringify(INPUT));
  const options = { stdin, stdoutCapBytes: DEFAULT_WASM_LIMITS.stdoutCapBytes, stderrCapBytes: 65_536 };
  const wasm = globalThis as unknown as {
    WebAssembly: {
      Module: (new (
        bytes: Uint8Array,
      ) => object) & {
        imports(m: object): { module: string; name: string }[];
      };
      Instance: new (module: object, imports: object) => object;
      Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
    };
  };
  const { Module, Instance, Memory } = wasm.WebAssembly;
  const started = performance.now();
  for (let i = 0; i < 20; i++) new Module(sandboxed.binary);
  const compileUs = ((performance.now() - started) * 1000) / 20;
  const own = new Module(binary);
  const imported = new Module(sandboxed.binary);
  const noop = () => 0;
  const wasi = Object.fromEntries(
    Module.imports(own)
      .filter((entry) => entry.module === "wasi_snapshot_preview1")
      .map((entry) => [entry.name, noop]),
  );
  const memory = new Memory({
    initial: sandboxed.memory.initialPages,
    maximum: sandboxed.memory.maximumPages,
  });
  const withMemory = {
    wasi_snapshot_preview1: wasi,
    [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory },
  };
  const view = new Uint8Array(memory.buffer);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const stdout = runWasiCommand(imported, { ...options, memory }).stdout;
  view.fill(0);
  const results: Record<string, { p50: number; mean: number; cpu: number }> = {
    ownMemory: timeSync(() => new Instance(own, { wasi_snapshot_preview1: wasi })),
    reusedMemory: timeSync(() => new Instance(imported, withMemory)),
    zero: timeSync(() => view.fill(0)),
    runOwn: timeSync(() => runWasiCommand(own, options)),
    runReused: timeSync(() => {
      runWasiCommand(imported, { ...options, memory });
      view.fill(0);
    }),
    parse: timeSync(() => JSON.parse(decoder.decode(stdout))),
  };
  process.send?.({ compileUs, pages: sandboxed.memory.initialPages, results });
}

// ---- 2. and 3. message round trips ---------------------------------------------------------------

async function roundTrips(
  child: ChildProcess,
  message: (id: number) => object,
): Promise<{ p50: number; mean: number; parentCpu: number; childCpu: number }> {
  let resolveReply: () => void = () => {};
  child.on("message", (reply: { type: string }) => {
    if (reply.type === "result") resolveReply();
  });
  const once = (id: number) =>
    new Promise<void>((resolve) => {
      resolveReply = resolve;
      child.send(message(id));
    });
  for (let i = 0; i < WARMUP; i++) await once(i);
  const samples: number[] = [];
  const pid = child.pid as number;
  const child0 = cpuOf(pid);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    await once(WARMUP + i);
    samples.push((performance.now() - t) * 1000);
  }
  const wall = (performance.now() - started) * 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    p50: median(samples),
    mean: wall / ITERATIONS,
    parentCpu: (cpu.user + cpu.system) / ITERATIONS,
    childCpu: (cpuOf(pid) - child0) / ITERATIONS,
  };
}

function start(path: string, serialization: "advanced" | "json", execArgv: string[] = []) {
  const child = fork(path, [], {
    execArgv,
    env: {},
    serialization,
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  return new Promise<ChildProcess>((resolve) => child.once("message", () => resolve(child)));
}

const cpuCell = (parent: number, sandbox: number) =>
  `${parent.toFixed(0)} + ${sandbox.toFixed(0)} = ${(parent + sandbox).toFixed(0)}`;

async function ipc(): Promise<void> {
  const stdin = JSON.stringify(INPUT);
  for (const serialization of ["advanced", "json"] as const) {
    const child = await start(`${HERE}ipc-echo.mjs`, serialization);
    const r = await roundTrips(child, (id) => ({
      type: "run",
      id,
      sha: "0".repeat(64),
      evict: [],
      stdin: serialization === "json" ? stdin : Buffer.from(stdin),
      stdoutCapBytes: DEFAULT_WASM_LIMITS.stdoutCapBytes,
      stderrCapBytes: DEFAULT_WASM_LIMITS.stderrCapBytes,
    }));
    rows.push([`IPC round trip only (${serialization})`, r.p50, r.mean, cpuCell(r.parentCpu, r.childCpu)]);
    child.disconnect();
  }
  const sandboxed = importMemory(prepared());
  const child = await start(
    fileURLToPath(new URL("../src/sandbox.mjs", import.meta.url)),
    "json",
    SANDBOX_FLAGS,
  );
  const base = {
    type: "run",
    sha: "0".repeat(64),
    evict: [],
    stdin,
    stdoutCapBytes: DEFAULT_WASM_LIMITS.stdoutCapBytes,
    stderrCapBytes: DEFAULT_WASM_LIMITS.stderrCapBytes,
  };
  let first = true;
  const r = await roundTrips(child, (id) => {
    if (!first) return { ...base, id };
    first = false;
    return {
      ...base,
      id,
      binary: Buffer.from(sandboxed.binary).toString("base64"),
      memory: sandboxed.memory,
    };
  });
  rows.push(["sandbox.mjs round trip (run + IPC)", r.p50, r.mean, cpuCell(r.parentCpu, r.childCpu)]);
  child.disconnect();
}

// ---- 4. the runtime ------------------------------------------------------------------------------

async function runtimeRuns(): Promise<void> {
  const binary = prepared();
  const spell: SpellRecord = {
    id: "spl_bench",
    slug: `${MODULE}@v1`,
    runtime: "wasm",
    config: {},
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "bench",
    artifact: { id: MODULE, builtin: null, apiEndpoint: null, wasmSha256: null, metadata: {} },
  };
  const run = (runtime: ReturnType<typeof createWasmRuntime>) =>
    runtime.run({ executionId: "exe_bench", spell, input: INPUT });

  const single = createWasmRuntime({ loadBinary: async () => binary, poolSize: 1 });
  for (let i = 0; i < WARMUP; i++) await run(single);
  let sandbox0 = childrenCpu();
  let cpu0 = process.cpuUsage();
  const samples: number[] = [];
  let started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const t = performance.now();
    await run(single);
    samples.push((performance.now() - t) * 1000);
  }
  let wall = (performance.now() - started) * 1000;
  let cpu = process.cpuUsage(cpu0);
  rows.push([
    "runtime.run, one call at a time (pool of 1)",
    median(samples),
    wall / ITERATIONS,
    cpuCell((cpu.user + cpu.system) / ITERATIONS, (childrenCpu() - sandbox0) / ITERATIONS),
  ]);
  await single.close();

  const pooled = createWasmRuntime({ loadBinary: async () => binary });
  await Promise.all(Array.from({ length: 32 }, () => run(pooled)));
  for (let i = 0; i < WARMUP; i++) await run(pooled);
  sandbox0 = childrenCpu();
  cpu0 = process.cpuUsage();
  started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next++ < ITERATIONS) await run(pooled);
    }),
  );
  wall = (performance.now() - started) * 1000;
  cpu = process.cpuUsage(cpu0);
  const perSecond = (ITERATIONS / wall) * 1e6;
  rows.push([
    `runtime.run, 16 in flight (pool of ${availableParallelism()} + 1): ${perSecond.toFixed(0)} calls/s`,
    Number.NaN,
    wall / ITERATIONS,
    cpuCell((cpu.user + cpu.system) / ITERATIONS, (childrenCpu() - sandbox0) / ITERATIONS),
  ]);
  await pooled.close();
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((n) => n.toFixed(1))
    .join(" / ");
  const phasesChild = fork(fileURLToPath(import.meta.url), [MODULE, String(ITERATIONS)], {
    execArgv: [...process.execArgv, ...SANDBOX_FLAGS],
    env: { ...process.env, WASM_BREAKDOWN_PHASES: "1" },
  });
  const measured = await new Promise<{
    compileUs: number;
    pages: number;
    results: Record<string, { p50: number; mean: number; cpu: number }>;
  }>((resolve) => phasesChild.once("message", resolve));
  phasesChild.kill();
  const part = (label: string, key: string): Row => {
    const r = measured.results[key];
    if (!r) throw new Error(`no figure for ${key}`);
    return [label, r.p50, r.mean, r.cpu.toFixed(1)];
  };
  rows.push([`compile (WebAssembly.Module, once per module per process)`, measured.compileUs, Number.NaN]);
  rows.push(part("instantiate, module's own memory (fresh per call; incl. its GC)", "ownMemory"));
  rows.push(part("instantiate, imported memory (reused)", "reusedMemory"));
  rows.push(part(`zero the memory after a call (${measured.pages} pages)`, "zero"));
  rows.push(part("whole run, own memory (WASI + instantiate + _start + capture)", "runOwn"));
  rows.push(part("whole run, reused memory, zeroed after", "runReused"));
  rows.push(part("decode + JSON.parse of stdout", "parse"));
  await ipc();
  await runtimeRuns();

  console.log(`wasm breakdown: ${MODULE}, input ${JSON.stringify(INPUT)}, ${ITERATIONS} iterations`);
  console.log(
    `load average at start ${load} (1/5/15 min), ${availableParallelism()} cores, Node ${process.version}`,
  );
  console.log("");
  console.log("| part | p50 µs | mean µs | CPU µs/call (parent + sandbox) |");
  console.log("| --- | ---: | ---: | ---: |");
  const cell = (n: number) => (Number.isNaN(n) ? "—" : n.toFixed(1));
  for (const [label, p50, mean, cpu] of rows) {
    console.log(`| ${label} | ${cell(p50)} | ${cell(mean)} | ${cpu ?? "—"} |`);
  }
}

if (process.env.WASM_BREAKDOWN_PHASES) phases();
else await main();
