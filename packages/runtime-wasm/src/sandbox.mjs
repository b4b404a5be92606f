// One sandbox process of the pool (`child_process.fork`, JSON serialization): keeps compiled
// modules by sha256 and runs each call in a fresh instance. A module that imports its memory (see
// binary.ts `importMemory`) gets a memory this process zeroed after its previous use: allocating a
// fresh one per call had V8 run a full collection every few dozen calls (their external memory).
// A separate process rather than a worker thread because V8 aborts the whole process on a fatal
// out-of-memory (one huge table allocation is enough), and a worker's resourceLimits do not catch
// every path; here it costs this process only.
// Plain JS so that it starts without a TypeScript loader (the parent may run under tsx or vitest).

import { runWasiCommand } from "./wasi.mjs";

/** sha256 → { module, memory: { initialPages, maximumPages } | null (the module defines its own) }. */
const modules = new Map();
const PAGE_BYTES = 65_536;
/**
 * Zeroing costs a pass over the memory; past this size a fresh allocation (lazily zeroed by the
 * kernel) is cheaper than the pass, so larger memories are not kept.
 */
const REUSE_MAX_BYTES = 4 * 1024 * 1024;
/** Zeroed memories kept for the next call, by "initial:maximum" pages, least recently used first. */
const spares = new Map();
const SPARES_MAX_BYTES = 16 * 1024 * 1024;
let spareBytes = 0;
const decoder = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8", { fatal: false });

function tail(bytes, max) {
  return lossy.decode(bytes.length > max ? bytes.subarray(bytes.length - max) : bytes);
}

function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** Compiles off this process's event loop (V8 compiles on background threads); null on failure. */
async function compile(sha, binary, memory) {
  try {
    modules.set(sha, { module: await WebAssembly.compile(binary), memory: memory ?? null });
    return null;
  } catch (error) {
    return messageOf(error);
  }
}

function memoryKey(type) {
  return `${type.initialPages}:${type.maximumPages}`;
}

/** A zeroed memory of `type` at its initial size: a kept one, or a new one. */
function takeMemory(type) {
  const key = memoryKey(type);
  const spare = spares.get(key);
  if (spare) {
    spares.delete(key);
    spareBytes -= spare.buffer.byteLength;
    return spare;
  }
  return new WebAssembly.Memory({ initial: type.initialPages, maximum: type.maximumPages });
}

/**
 * Keeps `memory` for the next call of the same type, zeroed now, so that no call ever sees what
 * another left there. A memory that grew is not kept: a fresh one would have the declared initial
 * size, and a memory cannot shrink.
 */
function releaseMemory(type, memory) {
  const bytes = type.initialPages * PAGE_BYTES;
  if (memory.buffer.byteLength !== bytes || bytes > REUSE_MAX_BYTES) return;
  new Uint8Array(memory.buffer).fill(0);
  const key = memoryKey(type);
  // One spare per type: calls in one process run one at a time, so a second one would never be used.
  if (spares.has(key)) return;
  spares.set(key, memory);
  spareBytes += bytes;
  for (const [oldest, spare] of spares) {
    if (spareBytes <= SPARES_MAX_BYTES) break;
    spares.delete(oldest);
    spareBytes -= spare.buffer.byteLength;
  }
}

/** `afterReply` collects what is left to do once the answer is sent (zeroing the memory). */
function runModule(entry, message, afterReply) {
  const memory = entry.memory === null ? undefined : takeMemory(entry.memory);
  if (memory) afterReply.push(() => releaseMemory(entry.memory, memory));
  const outcome = runWasiCommand(entry.module, {
    stdin: Buffer.from(message.stdin, "utf8"),
    stdoutCapBytes: message.stdoutCapBytes,
    stderrCapBytes: message.stderrCapBytes,
    memory,
  });
  const result = {
    kind: outcome.kind,
    stderr: tail(outcome.stderr, message.stderrCapBytes),
    memoryBytes: outcome.memoryBytes,
  };
  if (outcome.kind === "exit") {
    result.code = outcome.code;
    if (outcome.code === 0) {
      try {
        result.output = JSON.parse(decoder.decode(outcome.stdout));
        result.parsed = true;
      } catch {
        result.parsed = false;
        result.stdoutHead = lossy.decode(outcome.stdout.subarray(0, 200));
      }
    }
  } else if (outcome.kind === "output_limit") {
    result.stream = outcome.stream;
    result.capBytes = outcome.capBytes;
  } else {
    result.message = outcome.message;
    result.stackOverflow = outcome.stackOverflow;
    result.instantiation = outcome.instantiation;
  }
  return result;
}

async function handle(message, afterReply) {
  for (const sha of message.evict ?? []) modules.delete(sha);
  if (message.binary) {
    const failure = await compile(message.sha, Buffer.from(message.binary, "base64"), message.memory);
    if (failure !== null) return { kind: "invalid", message: failure, stderr: "", memoryBytes: 0 };
    if (message.type === "run") process.send({ type: "compiled", id: message.id });
  }
  if (message.type === "compile") return { kind: "compiled", stderr: "", memoryBytes: 0 };
  const entry = modules.get(message.sha);
  if (!entry) return { kind: "missing_module", stderr: "", memoryBytes: 0 };
  return runModule(entry, message, afterReply);
}

process.on("message", (message) => {
  if (message.type !== "run" && message.type !== "compile") return;
  const afterReply = [];
  handle(message, afterReply)
    .catch((error) => ({ kind: "trap", message: messageOf(error), stderr: "", memoryBytes: 0 }))
    .then((result) => {
      process.send({ type: "result", id: message.id, result });
      // Off the call's latency, still before the memory can be taken again: a memory is only kept
      // once zeroed, and a call that finds none kept allocates a fresh one.
      for (const work of afterReply) work();
    });
});

// The parent is gone (or closed the pool): nothing is left to answer to.
process.on("disconnect", () => process.exit(0));

process.send({ type: "ready" });
