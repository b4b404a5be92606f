// One pool worker: keeps compiled modules by sha256 and runs each call in a fresh instance.
// Plain JS so that it starts without a TypeScript loader (the main thread may run under tsx or vitest).

import { setFlagsFromString } from "node:v8";
import { parentPort, workerData } from "node:worker_threads";
import { runWasiCommand } from "./wasi.mjs";

// Backstop under the patched memory maximum. V8 flags are process-wide (worker execArgv refuses
// them), so this caps every wasm memory the process creates afterwards at the sandbox ceiling.
if (typeof workerData?.maxMemPages === "number") {
  setFlagsFromString(`--wasm-max-mem-pages=${workerData.maxMemPages}`);
}

const modules = new Map();
const decoder = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8", { fatal: false });

function tail(bytes, max) {
  const text = lossy.decode(bytes.length > max ? bytes.subarray(bytes.length - max) : bytes);
  return text;
}

function handleRun(message) {
  for (const sha of message.evict ?? []) modules.delete(sha);
  if (message.module) modules.set(message.sha, message.module);
  const module = modules.get(message.sha);
  if (!module) {
    return { kind: "missing_module" };
  }
  const outcome = runWasiCommand(module, {
    stdin: message.stdin,
    stdoutCapBytes: message.stdoutCapBytes,
    stderrCapBytes: message.stderrCapBytes,
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

parentPort.on("message", (message) => {
  if (message.type === "run") {
    let result;
    try {
      result = handleRun(message);
    } catch (error) {
      result = {
        kind: "trap",
        message: error instanceof Error ? error.message : String(error),
        stderr: "",
        memoryBytes: 0,
      };
    }
    parentPort.postMessage({ type: "result", id: message.id, result });
  } else if (message.type === "ping") {
    parentPort.postMessage({ type: "pong", id: message.id });
  }
});

parentPort.postMessage({ type: "ready" });
