import { availableParallelism } from "node:os";
import { AppError } from "@spell/contracts";
import { attachRuntimeLog, type Runtime, type RuntimeInvocation, type RuntimeResult } from "@spell/engine";
import {
  checkAndPatch,
  importMemory,
  MODULE_BOUNDS,
  type SandboxMemory,
  sha256Hex,
  WASM_PAGE_BYTES,
} from "./binary.ts";
import { ANONYMOUS_CALLER, WorkerPool, type WorkerPoolStats, type WorkerResult } from "./pool.ts";

/** Tasks running, idle sandbox processes, tasks waiting for a turn. */
export type WasmPoolStats = WorkerPoolStats;

export interface WasmLimits {
  /** Largest accepted module binary. */
  maxModuleBytes: number;
  /** Linear memory cap; the module's declared maximum is rewritten to it. At most 256 MiB. */
  memoryCapBytes: number;
  /** Wall-clock limit when the spell's `config.timeoutMs` is absent. */
  defaultTimeoutMs: number;
  /** Upper bound for a spell's `config.timeoutMs`. */
  maxTimeoutMs: number;
  stdoutCapBytes: number;
  stderrCapBytes: number;
  /** Largest input (its JSON, which becomes stdin); unset means the API's body limit is the bound. */
  stdinCapBytes?: number;
  /** Deadline for compiling a module in a sandbox process (at publish, and on a process's first use). */
  compileTimeoutMs: number;
}

const MIB = 1024 * 1024;

/**
 * 256 MiB: above this a guest growing page by page delays `worker.terminate()` by seconds, so the
 * wall-clock limit would stop being one.
 */
export const WASM_MEMORY_CAP_CEILING_BYTES = 256 * MIB;

export const DEFAULT_WASM_LIMITS: WasmLimits = Object.freeze({
  maxModuleBytes: 16 * MIB,
  memoryCapBytes: 128 * MIB,
  defaultTimeoutMs: 5000,
  maxTimeoutMs: 30_000,
  stdoutCapBytes: 1 * MIB,
  stderrCapBytes: 64 * 1024,
  compileTimeoutMs: 10_000,
});

function resolveLimits(limits: Partial<WasmLimits> | undefined): WasmLimits {
  const resolved: WasmLimits = { ...DEFAULT_WASM_LIMITS, ...limits };
  const positive = (name: keyof WasmLimits) => {
    const value = resolved[name];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`WasmLimits.${name} must be a positive number, got ${value}`);
    }
  };
  for (const name of Object.keys(resolved) as (keyof WasmLimits)[]) positive(name);
  if (resolved.memoryCapBytes > WASM_MEMORY_CAP_CEILING_BYTES) {
    throw new RangeError(`WasmLimits.memoryCapBytes must be at most ${WASM_MEMORY_CAP_CEILING_BYTES}`);
  }
  if (resolved.memoryCapBytes < WASM_PAGE_BYTES) {
    throw new RangeError(`WasmLimits.memoryCapBytes must be at least one page (${WASM_PAGE_BYTES})`);
  }
  if (resolved.defaultTimeoutMs > resolved.maxTimeoutMs) {
    throw new RangeError("WasmLimits.defaultTimeoutMs must not exceed maxTimeoutMs");
  }
  return resolved;
}

/**
 * Static check of a WASI preview1 command module, for tooling and tests. Throws `ARTIFACT_INVALID`
 * (with `details.reason`) and returns the binary with its memory and table maximums capped, and its
 * sha256 (hex). Validates with the synchronous `WebAssembly.validate`; the runtime's own `prepare`
 * compiles in a sandbox process with a deadline instead, off the event loop.
 */
export function prepareWasmArtifact(
  bytes: Uint8Array,
  limits?: Partial<WasmLimits>,
): { binary: Uint8Array; sha256: string } {
  return checkAndPatch(bytes, resolveLimits(limits), { validate: true });
}

export interface WasmRuntimeOptions {
  /** The stored (prepared) binary of an artifact; read only on a compiled-module cache miss. */
  loadBinary(artifactId: string): Promise<Uint8Array>;
  /** Sandbox processes; default one per core. */
  poolSize?: number;
  /**
   * Extra sandbox processes reserved for callers with no call running, so one caller's flood of slow
   * calls cannot hold every process; default 1.
   */
  reservedWorkers?: number;
  limits?: Partial<WasmLimits>;
  /** How long a call may wait for a free worker; default `maxTimeoutMs`. */
  maxQueueWaitMs?: number;
  /** Calls allowed to wait for a worker at once; default 1000. */
  maxQueueLength?: number;
  /** Calls one caller may have waiting at once; default a quarter of `maxQueueLength`. */
  maxQueuePerCaller?: number;
  /** Modules kept (binaries here, compiled in each sandbox process); default 64. */
  moduleCacheSize?: number;
}

const STDERR_TAIL_CHARS = 1024;

function tail(text: string): string {
  return text.length > STDERR_TAIL_CHARS ? text.slice(text.length - STDERR_TAIL_CHARS) : text;
}

function timeoutFor(config: Record<string, unknown>, limits: WasmLimits): number {
  const requested = config.timeoutMs;
  if (typeof requested !== "number" || !Number.isFinite(requested) || requested <= 0) {
    return limits.defaultTimeoutMs;
  }
  return Math.min(Math.ceil(requested), limits.maxTimeoutMs);
}

// Guests cannot tell us that a memory.grow failed; these are the traces it leaves. Rust's allocator
// prints the first, C programs conventionally the others, and V8 reports the last two.
const OUT_OF_MEMORY_TEXT =
  /memory allocation of \d+ bytes failed|out of memory|cannot allocate memory|could not allocate memory|maximum memory size exceeded/i;

/**
 * A failed run is blamed on the memory cap when the guest had used at least half of it (a doubling
 * allocator fails there) or left an out-of-memory trace. This is a heuristic: V8 does not report
 * failed `memory.grow` calls to the embedder.
 */
function looksOutOfMemory(result: WorkerResult, capBytes: number, message = ""): boolean {
  return result.memoryBytes * 2 >= capBytes || OUT_OF_MEMORY_TEXT.test(`${result.stderr}\n${message}`);
}

/** Failures carry the guest's whole captured stderr for the execution log (details keep a tail). */
function toRuntimeResult(result: WorkerResult, limits: WasmLimits): RuntimeResult {
  try {
    return interpret(result, limits);
  } catch (error) {
    throw attachRuntimeLog(error as object, result.stderr);
  }
}

function interpret(result: WorkerResult, limits: WasmLimits): RuntimeResult {
  const stderrTail = tail(result.stderr);
  const memoryLimit = () =>
    new AppError("RUNTIME_MEMORY_LIMIT", "The module exceeded its memory limit", {
      memoryCapBytes: limits.memoryCapBytes,
      stderrTail,
    });
  switch (result.kind) {
    case "exit": {
      if (result.code !== 0) {
        if (looksOutOfMemory(result, limits.memoryCapBytes)) throw memoryLimit();
        throw new AppError("RUNTIME_ERROR", `The module exited with code ${result.code}`, {
          exitCode: result.code,
          stderrTail,
        });
      }
      if (!result.parsed) {
        throw new AppError("RUNTIME_ERROR", "The module's stdout is not one JSON value", {
          exitCode: 0,
          stdoutHead: result.stdoutHead ?? "",
          stderrTail,
        });
      }
      return result.stderr.length > 0
        ? { output: result.output, log: result.stderr }
        : { output: result.output };
    }
    case "output_limit":
      throw new AppError(
        "RUNTIME_OUTPUT_LIMIT",
        `The module wrote more than ${result.capBytes} bytes to ${result.stream}`,
        {
          stream: result.stream,
          capBytes: result.capBytes,
        },
      );
    case "trap": {
      if (result.stackOverflow) {
        throw new AppError("RUNTIME_ERROR", "The module trapped: stack overflow", {
          trap: "stack overflow",
          stderrTail,
        });
      }
      if (looksOutOfMemory(result, limits.memoryCapBytes, result.message)) throw memoryLimit();
      throw new AppError("RUNTIME_ERROR", `The module trapped: ${result.message}`, {
        trap: result.message,
        stderrTail,
      });
    }
    case "crashed":
      if (result.outOfMemory) throw memoryLimit();
      throw new AppError("RUNTIME_ERROR", "The module's worker crashed", { stderrTail });
    case "timeout":
      if (result.phase === "compile") {
        throw new AppError(
          "RUNTIME_TIMEOUT",
          `The module took longer than ${result.timeoutMs} ms to compile`,
          {
            timeoutMs: result.timeoutMs,
            phase: "compile",
          },
        );
      }
      throw new AppError("RUNTIME_TIMEOUT", `The module ran longer than ${result.timeoutMs} ms`, {
        timeoutMs: result.timeoutMs,
      });
    case "canceled":
      throw canceledError();
    case "invalid":
      throw new AppError("RUNTIME_ERROR", "The stored module does not compile", {
        compileError: result.message,
      });
    case "missing_module":
    case "compiled":
      throw new AppError("INTERNAL_ERROR", "Internal error");
  }
}

function canceledError(): AppError {
  return new AppError("EXECUTION_CANCELED", "The execution was canceled while it ran", {
    reason: "canceled",
  });
}

/** A module as the sandbox processes run it: memory imported, so that they can reuse zeroed ones. */
interface SandboxModule {
  binary: Uint8Array;
  memory: SandboxMemory;
}

/** Publish-time compile checks take their turns as one caller. */
const PUBLISH_CALLER = "\u0000publish";

/** The wasm runtime, with its pool's counters for the server's metrics. */
export interface WasmRuntime extends Runtime {
  stats(): WasmPoolStats;
}

/** The `wasm` runtime: WASI preview1 command modules in a pool of sandbox processes. */
export function createWasmRuntime(options: WasmRuntimeOptions): WasmRuntime {
  const limits = resolveLimits(options.limits);
  const cacheSize = options.moduleCacheSize ?? 64;
  const maxQueueLength = options.maxQueueLength ?? 1000;
  const pool = new WorkerPool({
    size: Math.max(1, options.poolSize ?? availableParallelism()),
    reserved: Math.max(0, options.reservedWorkers ?? 1),
    maxMemPages: WASM_MEMORY_CAP_CEILING_BYTES / WASM_PAGE_BYTES,
    maxTableEntries: MODULE_BOUNDS.tableEntries,
    maxQueueWaitMs: options.maxQueueWaitMs ?? limits.maxTimeoutMs,
    maxQueueLength,
    maxQueuePerCaller: options.maxQueuePerCaller ?? Math.max(1, Math.floor(maxQueueLength / 4)),
    modulesPerWorker: cacheSize,
    heapMb: 64,
  });
  /** sha256 → sandbox-ready binary; a Map kept in recency order serves as the LRU. */
  const modules = new Map<string, Promise<SandboxModule>>();

  async function load(artifactId: string, expectedSha: string | null): Promise<SandboxModule> {
    const stored = await options.loadBinary(artifactId);
    if (expectedSha !== null && sha256Hex(stored) !== expectedSha) {
      throw new AppError("RUNTIME_ERROR", "The stored wasm artifact does not match its sha256", {
        artifactId,
      });
    }
    // Re-applying the static checks costs one pass over the declarations and guarantees the caps
    // even for rows written before them (or with another cap): the patch is idempotent on prepared
    // binaries. Compiling happens in the sandbox processes, never here.
    return importMemory(checkAndPatch(stored, limits).binary);
  }

  function moduleFor(artifactId: string, sha: string | null): Promise<SandboxModule> {
    const key = sha ?? `artifact:${artifactId}`;
    const cached = modules.get(key);
    if (cached) {
      modules.delete(key);
      modules.set(key, cached);
      return cached;
    }
    const compiled = load(artifactId, sha);
    modules.set(key, compiled);
    compiled.catch(() => {
      if (modules.get(key) === compiled) modules.delete(key);
    });
    while (modules.size > cacheSize) modules.delete(modules.keys().next().value as string);
    return compiled;
  }

  return {
    kind: "wasm",
    async prepare(artifact) {
      if (!("wasmBase64" in artifact)) {
        throw new AppError("ARTIFACT_INVALID", 'A wasm spell\'s artifact is {"wasmBase64": …}', {
          reason: "artifact_mismatch",
        });
      }
      const { binary, sha256 } = checkAndPatch(Buffer.from(artifact.wasmBase64, "base64"), limits);
      // Validating is compiling: done in a sandbox process with a deadline, never on this thread.
      // The sandbox-ready form is compiled (so that a run in that process reuses it); it differs
      // from `binary` only in where the memory is declared.
      const sandboxed = importMemory(binary);
      const compiled = await pool.compile({
        callerKey: PUBLISH_CALLER,
        sha: sha256,
        binary: sandboxed.binary,
        memory: sandboxed.memory,
        compileTimeoutMs: limits.compileTimeoutMs,
      });
      if (compiled.kind === "invalid") {
        throw new AppError(
          "ARTIFACT_INVALID",
          `The module does not validate as WebAssembly: ${compiled.message}`,
          {
            reason: "invalid",
          },
        );
      }
      if (compiled.kind === "timeout") {
        throw new AppError(
          "ARTIFACT_INVALID",
          `The module took longer than ${compiled.timeoutMs} ms to compile`,
          {
            reason: "compile_timeout",
            compileTimeoutMs: compiled.timeoutMs,
          },
        );
      }
      if (compiled.kind === "crashed") {
        throw new AppError("ARTIFACT_INVALID", "Compiling the module exhausted the sandbox", {
          reason: compiled.outOfMemory ? "compile_memory" : "compile_crashed",
        });
      }
      if (compiled.kind !== "compiled") throw new AppError("INTERNAL_ERROR", "Internal error");
      return { builtin: null, apiEndpoint: null, wasmBinary: binary, wasmSha256: sha256 };
    },
    async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
      const { spell } = invocation;
      const stdin = JSON.stringify(invocation.input);
      // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count the bytes only when the length cannot tell.
      const cap = limits.stdinCapBytes;
      const stdinBytes =
        cap !== undefined && stdin.length * 3 > cap ? Buffer.byteLength(stdin, "utf8") : stdin.length;
      if (cap !== undefined && stdinBytes > cap) {
        throw new AppError("PAYLOAD_TOO_LARGE", "The input is too large for this runtime", {
          sizeBytes: stdinBytes,
          limitBytes: limits.stdinCapBytes,
        });
      }
      const sha = spell.artifact.wasmSha256;
      const { binary, memory } = await moduleFor(spell.artifact.id, sha);
      if (invocation.signal?.aborted) throw canceledError();
      const result = await pool.run(
        {
          callerKey: invocation.callerId ?? ANONYMOUS_CALLER,
          sha: sha ?? `artifact:${spell.artifact.id}`,
          binary,
          memory,
          compileTimeoutMs: limits.compileTimeoutMs,
          stdin,
          timeoutMs: timeoutFor(spell.config, limits),
          stdoutCapBytes: limits.stdoutCapBytes,
          stderrCapBytes: limits.stderrCapBytes,
        },
        invocation.signal,
      );
      return toRuntimeResult(result, limits);
    },
    stats: () => pool.stats(),
    close: () => pool.close(),
  };
}
