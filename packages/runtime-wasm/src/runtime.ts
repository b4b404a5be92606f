import { availableParallelism } from "node:os";
import { AppError } from "@spell/contracts";
import { attachRuntimeLog, type Runtime, type RuntimeInvocation, type RuntimeResult } from "@spell/engine";
import { checkAndPatch, sha256Hex, WASM_PAGE_BYTES } from "./binary.ts";
import { WorkerPool, type WorkerResult } from "./pool.ts";
import { type CompiledModule, wasmApi } from "./webassembly.ts";

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
 * Publish-time check of a WASI preview1 command module. Throws `ARTIFACT_INVALID` (with
 * `details.reason`) and returns the binary with its memory maximum capped, and its sha256 (hex).
 */
export function prepareWasmArtifact(
  bytes: Uint8Array,
  limits?: Partial<WasmLimits>,
): { binary: Uint8Array; sha256: string } {
  return checkAndPatch(bytes, resolveLimits(limits));
}

export interface WasmRuntimeOptions {
  /** The stored (prepared) binary of an artifact; read only on a compiled-module cache miss. */
  loadBinary(artifactId: string): Promise<Uint8Array>;
  /** Worker threads; default one per core. */
  poolSize?: number;
  limits?: Partial<WasmLimits>;
  /** How long a call may wait for a free worker; default `maxTimeoutMs`. */
  maxQueueWaitMs?: number;
  /** Calls allowed to wait for a worker at once; default 1000. */
  maxQueueLength?: number;
  /** Compiled modules kept in memory (and per worker); default 64. */
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
    case "missing_module":
      throw new AppError("INTERNAL_ERROR", "Internal error");
  }
}

/** The `wasm` runtime: WASI preview1 command modules in a pool of worker threads. */
export function createWasmRuntime(options: WasmRuntimeOptions): Runtime {
  const limits = resolveLimits(options.limits);
  const cacheSize = options.moduleCacheSize ?? 64;
  const pool = new WorkerPool({
    size: Math.max(1, options.poolSize ?? availableParallelism()),
    maxMemPages: WASM_MEMORY_CAP_CEILING_BYTES / WASM_PAGE_BYTES,
    maxQueueWaitMs: options.maxQueueWaitMs ?? limits.maxTimeoutMs,
    maxQueueLength: options.maxQueueLength ?? 1000,
    modulesPerWorker: cacheSize,
    heapMb: 64,
  });
  /** sha256 → compiled module; a Map kept in recency order serves as the LRU. */
  const modules = new Map<string, Promise<CompiledModule>>();

  async function compile(artifactId: string, expectedSha: string | null): Promise<CompiledModule> {
    const stored = await options.loadBinary(artifactId);
    if (expectedSha !== null && sha256Hex(stored) !== expectedSha) {
      throw new AppError("RUNTIME_ERROR", "The stored wasm artifact does not match its sha256", {
        artifactId,
      });
    }
    // Re-applying the publish checks costs a parse and guarantees the cap even for rows written
    // before it (or with another cap): the patch is idempotent on prepared binaries.
    const { binary } = checkAndPatch(stored, limits);
    return wasmApi.compile(binary);
  }

  function moduleFor(artifactId: string, sha: string | null): Promise<CompiledModule> {
    const key = sha ?? `artifact:${artifactId}`;
    const cached = modules.get(key);
    if (cached) {
      modules.delete(key);
      modules.set(key, cached);
      return cached;
    }
    const compiled = compile(artifactId, sha);
    modules.set(key, compiled);
    compiled.catch(() => {
      if (modules.get(key) === compiled) modules.delete(key);
    });
    while (modules.size > cacheSize) modules.delete(modules.keys().next().value as string);
    return compiled;
  }

  return {
    kind: "wasm",
    prepare(artifact) {
      if (!("wasmBase64" in artifact)) {
        throw new AppError("ARTIFACT_INVALID", 'A wasm spell\'s artifact is {"wasmBase64": …}', {
          reason: "artifact_mismatch",
        });
      }
      const { binary, sha256 } = checkAndPatch(Buffer.from(artifact.wasmBase64, "base64"), limits);
      return { builtin: null, apiEndpoint: null, wasmBinary: binary, wasmSha256: sha256 };
    },
    async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
      const { spell } = invocation;
      const stdin = Buffer.from(JSON.stringify(invocation.input), "utf8");
      if (limits.stdinCapBytes !== undefined && stdin.length > limits.stdinCapBytes) {
        throw new AppError("PAYLOAD_TOO_LARGE", "The input is too large for this runtime", {
          sizeBytes: stdin.length,
          limitBytes: limits.stdinCapBytes,
        });
      }
      const sha = spell.artifact.wasmSha256;
      const module = await moduleFor(spell.artifact.id, sha);
      const result = await pool.run({
        sha: sha ?? `artifact:${spell.artifact.id}`,
        module,
        stdin,
        timeoutMs: timeoutFor(spell.config, limits),
        stdoutCapBytes: limits.stdoutCapBytes,
        stderrCapBytes: limits.stderrCapBytes,
      });
      return toRuntimeResult(result, limits);
    },
    close: () => pool.close(),
  };
}
