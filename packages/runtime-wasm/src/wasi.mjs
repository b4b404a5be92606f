// A deliberately small WASI preview1 for one run of a command module. Plain JS (not TS) so the
// worker thread loads it without a TypeScript loader, under tsx, vitest and plain node alike.
//
// The guest sees: stdin = the input bytes, stdout/stderr captured with byte caps, no args, no
// environment, no preopened directories (so every path_* call fails), clocks and randomness.
// Sleeping (poll_oneoff) is refused, proc_exit ends the run, and anything else answers ENOSYS.

import { getRandomValues } from "node:crypto";

const ESUCCESS = 0;
const EBADF = 8;
const EFAULT = 21;
const EINVAL = 28;
const ENOSYS = 52;
const ENOTSUP = 58;
const ESPIPE = 70;
const ENOTCAPABLE = 76;

const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHTS_ALL = 0x1fffffffn;

/**
 * Where a sandbox-ready module imports its memory (binary.ts `importMemory` moves the module's own
 * declaration there). No published module can import it: publish accepts WASI function imports only.
 */
export const SANDBOX_MEMORY_IMPORT = Object.freeze({ module: "spell:sandbox", name: "memory" });

/** Thrown through the guest by proc_exit. */
export class ProcExit {
  constructor(code) {
    this.code = code;
  }
}

/** Thrown through the guest when it writes more than a stream's cap. */
export class OutputLimit {
  constructor(stream, capBytes) {
    this.stream = stream;
    this.capBytes = capBytes;
  }
}

class Capture {
  constructor(stream, capBytes) {
    this.stream = stream;
    this.capBytes = capBytes;
    this.chunks = [];
    this.length = 0;
    this.onLimit = () => {};
  }

  push(bytes) {
    if (this.length + bytes.length > this.capBytes) {
      const room = this.capBytes - this.length;
      if (room > 0) this.chunks.push(bytes.slice(0, room));
      this.length = this.capBytes;
      this.onLimit(this);
      throw new OutputLimit(this.stream, this.capBytes);
    }
    this.chunks.push(bytes.slice());
    this.length += bytes.length;
  }

  bytes() {
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

const PATH_FUNCTIONS = [
  "path_create_directory",
  "path_filestat_get",
  "path_filestat_set_times",
  "path_link",
  "path_open",
  "path_readlink",
  "path_remove_directory",
  "path_rename",
  "path_symlink",
  "path_unlink_file",
];

/**
 * Instantiates `module` with a fresh WASI and runs `_start`. A module that imports its memory
 * (`SANDBOX_MEMORY_IMPORT`) gets `options.memory`, which must be as a fresh one would be: its declared
 * initial size, all zeros.
 * @param {WebAssembly.Module} module
 * @param {{ stdin: Uint8Array, stdoutCapBytes: number, stderrCapBytes: number, memory?: WebAssembly.Memory }} options
 * @returns {{ kind: "exit", code: number } | { kind: "output_limit", stream: string, capBytes: number } | { kind: "trap", message: string, stackOverflow: boolean, instantiation: boolean }} & { stdout: Uint8Array, stderr: Uint8Array, memoryBytes: number }
 */
export function runWasiCommand(module, options) {
  const stdin = options.stdin;
  let stdinOffset = 0;
  const stdout = new Capture("stdout", options.stdoutCapBytes);
  const stderr = new Capture("stderr", options.stderrCapBytes);
  let memory = null;
  // Remembered apart from the thrown sentinels: a guest using wasm exception handling could catch
  // them and carry on, but it cannot undo having exited or having hit a cap.
  let exitCode = null;
  let limitHit = null;
  let view = null;
  let u8 = null;

  stdout.onLimit = stderr.onLimit = (capture) => {
    limitHit ??= capture;
  };

  const refresh = () => {
    if (view === null || view.buffer !== memory.buffer) {
      view = new DataView(memory.buffer);
      u8 = new Uint8Array(memory.buffer);
    }
  };
  const inBounds = (ptr, len) => ptr >= 0 && len >= 0 && ptr + len <= u8.length;

  const zeroSizes = (countPtr, sizePtr) => {
    refresh();
    if (!inBounds(countPtr, 4) || !inBounds(sizePtr, 4)) return EFAULT;
    view.setUint32(countPtr, 0, true);
    view.setUint32(sizePtr, 0, true);
    return ESUCCESS;
  };

  const fdWrite = (fd, iovs, iovsLen, nwrittenPtr) => {
    const sink = fd === 1 ? stdout : fd === 2 ? stderr : null;
    if (sink === null) return EBADF;
    refresh();
    if (!inBounds(iovs, iovsLen * 8) || !inBounds(nwrittenPtr, 4)) return EFAULT;
    let written = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (!inBounds(ptr, len)) return EFAULT;
      sink.push(u8.subarray(ptr, ptr + len));
      written += len;
    }
    view.setUint32(nwrittenPtr, written, true);
    return ESUCCESS;
  };

  const fdRead = (fd, iovs, iovsLen, nreadPtr) => {
    if (fd !== 0) return EBADF;
    refresh();
    if (!inBounds(iovs, iovsLen * 8) || !inBounds(nreadPtr, 4)) return EFAULT;
    let read = 0;
    for (let i = 0; i < iovsLen && stdinOffset < stdin.length; i++) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (!inBounds(ptr, len)) return EFAULT;
      const n = Math.min(len, stdin.length - stdinOffset);
      u8.set(stdin.subarray(stdinOffset, stdinOffset + n), ptr);
      stdinOffset += n;
      read += n;
    }
    view.setUint32(nreadPtr, read, true);
    return ESUCCESS;
  };

  const isStdio = (fd) => fd === 0 || fd === 1 || fd === 2;

  const wasi = {
    args_get: () => ESUCCESS,
    args_sizes_get: zeroSizes,
    environ_get: () => ESUCCESS,
    environ_sizes_get: zeroSizes,
    clock_res_get: (_id, resPtr) => {
      refresh();
      if (!inBounds(resPtr, 8)) return EFAULT;
      view.setBigUint64(resPtr, 1000n, true);
      return ESUCCESS;
    },
    clock_time_get: (id, _precision, timePtr) => {
      refresh();
      if (!inBounds(timePtr, 8)) return EFAULT;
      let ns;
      if (id === 0) ns = BigInt(Date.now()) * 1_000_000n;
      else if (id >= 1 && id <= 3) ns = process.hrtime.bigint();
      else return EINVAL;
      view.setBigUint64(timePtr, ns, true);
      return ESUCCESS;
    },
    fd_write: fdWrite,
    fd_read: fdRead,
    fd_close: (fd) => (isStdio(fd) ? ESUCCESS : EBADF),
    fd_fdstat_get: (fd, statPtr) => {
      if (!isStdio(fd)) return EBADF;
      refresh();
      if (!inBounds(statPtr, 24)) return EFAULT;
      view.setUint8(statPtr, FILETYPE_CHARACTER_DEVICE);
      view.setUint16(statPtr + 2, 0, true);
      view.setBigUint64(statPtr + 8, RIGHTS_ALL, true);
      view.setBigUint64(statPtr + 16, 0n, true);
      return ESUCCESS;
    },
    fd_fdstat_set_flags: (fd) => (isStdio(fd) ? ENOTSUP : EBADF),
    fd_filestat_get: (fd, statPtr) => {
      if (!isStdio(fd)) return EBADF;
      refresh();
      if (!inBounds(statPtr, 64)) return EFAULT;
      u8.fill(0, statPtr, statPtr + 64);
      view.setUint8(statPtr + 16, FILETYPE_CHARACTER_DEVICE);
      return ESUCCESS;
    },
    fd_seek: (fd) => (isStdio(fd) ? ESPIPE : EBADF),
    fd_tell: (fd) => (isStdio(fd) ? ESPIPE : EBADF),
    fd_sync: (fd) => (isStdio(fd) ? ESUCCESS : EBADF),
    fd_datasync: (fd) => (isStdio(fd) ? ESUCCESS : EBADF),
    fd_prestat_get: () => EBADF,
    fd_prestat_dir_name: () => EBADF,
    poll_oneoff: () => ENOTSUP,
    proc_exit: (code) => {
      exitCode ??= code >>> 0;
      throw new ProcExit(exitCode);
    },
    sched_yield: () => ESUCCESS,
    random_get: (ptr, len) => {
      refresh();
      if (!inBounds(ptr, len)) return EFAULT;
      for (let offset = 0; offset < len; offset += 65_536) {
        getRandomValues(u8.subarray(ptr + offset, ptr + Math.min(len, offset + 65_536)));
      }
      return ESUCCESS;
    },
  };
  for (const name of PATH_FUNCTIONS) wasi[name] = () => ENOTCAPABLE;

  const imports = {};
  for (const name of importedWasiFunctions(module)) {
    imports[name] = Object.hasOwn(wasi, name) ? wasi[name] : () => ENOSYS;
  }

  const finish = (outcome) => ({
    ...outcome,
    stdout: stdout.bytes(),
    stderr: stderr.bytes(),
    memoryBytes: memory === null ? 0 : memory.buffer.byteLength,
  });

  const importObject = { wasi_snapshot_preview1: imports };
  if (options.memory) {
    importObject[SANDBOX_MEMORY_IMPORT.module] = { [SANDBOX_MEMORY_IMPORT.name]: options.memory };
  }
  let instance;
  try {
    instance = new WebAssembly.Instance(module, importObject);
  } catch (error) {
    return finish({ kind: "trap", message: messageOf(error), stackOverflow: false, instantiation: true });
  }
  memory =
    instance.exports.memory ?? Object.values(instance.exports).find((v) => v instanceof WebAssembly.Memory);
  if (!(memory instanceof WebAssembly.Memory)) {
    return finish({
      kind: "trap",
      message: "module exports no memory",
      stackOverflow: false,
      instantiation: true,
    });
  }
  let thrown = null;
  try {
    instance.exports._start();
  } catch (error) {
    thrown = error;
  }
  if (limitHit !== null) {
    return finish({ kind: "output_limit", stream: limitHit.stream, capBytes: limitHit.capBytes });
  }
  if (exitCode !== null) return finish({ kind: "exit", code: exitCode });
  if (thrown === null) return finish({ kind: "exit", code: 0 });
  const stackOverflow = thrown instanceof RangeError && /call stack/i.test(thrown.message);
  return finish({ kind: "trap", message: messageOf(thrown), stackOverflow, instantiation: false });
}

const importNames = new WeakMap();

/** The preview1 functions a module imports, listed once per compiled module. */
function importedWasiFunctions(module) {
  let names = importNames.get(module);
  if (names === undefined) {
    names = WebAssembly.Module.imports(module)
      // Publish-time checks refuse anything else; this keeps the shim honest if they are bypassed.
      .filter((entry) => entry.module === "wasi_snapshot_preview1" && entry.kind === "function")
      .map((entry) => entry.name);
    importNames.set(module, names);
  }
  return names;
}

function messageOf(error) {
  if (error instanceof Error) return error.message;
  return String(error);
}
