// One sandbox process of the pool (`child_process.fork`, advanced serialization): keeps compiled
// modules by sha256 and runs each call in a fresh instance. A separate process rather than a worker
// thread because V8 aborts the whole process on a fatal out-of-memory (one huge table allocation is
// enough), and a worker's resourceLimits do not catch every path; here it costs this process only.
// Plain JS so that it starts without a TypeScript loader (the parent may run under tsx or vitest).

import { runWasiCommand } from "./wasi.mjs";

const modules = new Map();
const decoder = new TextDecoder("utf-8", { fatal: true });
const lossy = new TextDecoder("utf-8", { fatal: false });

function tail(bytes, max) {
  return lossy.decode(bytes.length > max ? bytes.subarray(bytes.length - max) : bytes);
}

function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** Compiles off this process's event loop (V8 compiles on background threads); null on failure. */
async function compile(sha, binary) {
  try {
    modules.set(sha, await WebAssembly.compile(binary));
    return null;
  } catch (error) {
    return messageOf(error);
  }
}

function runModule(module, message) {
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

async function handle(message) {
  for (const sha of message.evict ?? []) modules.delete(sha);
  if (message.binary) {
    const failure = await compile(message.sha, message.binary);
    if (failure !== null) return { kind: "invalid", message: failure, stderr: "", memoryBytes: 0 };
    if (message.type === "run") process.send({ type: "compiled", id: message.id });
  }
  if (message.type === "compile") return { kind: "compiled", stderr: "", memoryBytes: 0 };
  const module = modules.get(message.sha);
  if (!module) return { kind: "missing_module", stderr: "", memoryBytes: 0 };
  return runModule(module, message);
}

process.on("message", (message) => {
  if (message.type !== "run" && message.type !== "compile") return;
  handle(message)
    .catch((error) => ({ kind: "trap", message: messageOf(error), stderr: "", memoryBytes: 0 }))
    .then((result) => process.send({ type: "result", id: message.id, result }));
});

// The parent is gone (or closed the pool): nothing is left to answer to.
process.on("disconnect", () => process.exit(0));

process.send({ type: "ready" });
