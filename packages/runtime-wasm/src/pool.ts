import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AppError } from "@spell/contracts";
import type { SandboxMemory } from "./binary.ts";

/** What a sandbox process answers for one task (see sandbox.mjs), or what the pool saw happen to it. */
export type WorkerResult = { stderr: string; memoryBytes: number } & (
  | { kind: "exit"; code: number; parsed?: boolean; output?: unknown; stdoutHead?: string }
  | { kind: "output_limit"; stream: "stdout" | "stderr"; capBytes: number }
  | { kind: "trap"; message: string; stackOverflow?: boolean; instantiation?: boolean }
  | { kind: "missing_module" }
  | { kind: "crashed"; outOfMemory: boolean; message: string }
  /** The module does not compile (`WebAssembly.compile` rejected it). */
  | { kind: "invalid"; message: string }
  /** A compile-only task succeeded. */
  | { kind: "compiled" }
  /** Over the task's deadline: the sandbox process was killed. */
  | { kind: "timeout"; phase: "compile" | "run"; timeoutMs: number }
  /** The caller's signal aborted (the run was canceled): dropped from the queue, or its process killed. */
  | { kind: "canceled"; started: boolean }
);

interface TaskBase {
  /** Whose task this is: the queue serves callers in turn. */
  callerKey: string;
  sha: string;
  /** The prepared binary; sent to a sandbox process only if it does not hold the module yet. */
  binary: Uint8Array;
  /** Set when `binary` imports its memory (`importMemory`): the sandbox supplies a zeroed one. */
  memory?: SandboxMemory;
  /** Deadline for compiling `binary` in a sandbox process. */
  compileTimeoutMs: number;
}

export interface PoolJob extends TaskBase {
  /** The guest's stdin as text (the input's JSON): JSON IPC carries a string as it is. */
  stdin: string;
  timeoutMs: number;
  stdoutCapBytes: number;
  stderrCapBytes: number;
}

type Task = ({ kind: "run" } & PoolJob) | ({ kind: "compile" } & TaskBase);

export interface WorkerPoolOptions {
  size: number;
  /**
   * Extra sandbox processes that only take a call from a caller with nothing running, so one
   * caller holding every regular process with slow calls cannot make another wait for them.
   */
  reserved: number;
  maxMemPages: number;
  /** Entries per wasm table (V8 `--wasm-max-table-size` backstop under the publish-time patch). */
  maxTableEntries: number;
  /** How long a call may wait for a free process before it is refused. */
  maxQueueWaitMs: number;
  maxQueueLength: number;
  /** Calls one caller may have waiting at once. */
  maxQueuePerCaller: number;
  /** Compiled modules each process keeps; older ones are dropped and re-sent when needed. */
  modulesPerWorker: number;
  /** V8 heap of each sandbox process (tables, instances, the shim; wasm memory is outside it). */
  heapMb: number;
}

/** A snapshot of the pool: tasks running, live processes with nothing to do, tasks waiting for a turn. */
export interface WorkerPoolStats {
  busy: number;
  idle: number;
  queued: number;
}

interface Pending {
  task: Task;
  resolve(result: WorkerResult): void;
  reject(error: unknown): void;
  queueTimer: NodeJS.Timeout | null;
  /** Removes the caller's abort listener once the task is over. */
  detach: () => void;
}

interface Running {
  pending: Pending;
  id: number;
  timer: NodeJS.Timeout;
  phase: "compile" | "run";
}

interface Slot {
  child: ChildProcess;
  ready: boolean;
  running: Running | null;
  /** sha256s this process holds, oldest first. */
  modules: Map<string, true>;
  dead: boolean;
  /** Last bytes the process wrote to stderr (V8 prints its fatal errors there). */
  stderrTail: string;
}

/**
 * The turn of calls that name no caller: they share one turn, and only the pool-wide bound limits
 * how many of them wait (a server that does not pass caller ids keeps its whole queue).
 */
export const ANONYMOUS_CALLER = "";

const SANDBOX_PATH = fileURLToPath(new URL("./sandbox.mjs", import.meta.url));
const STDERR_TAIL = 4096;
const FATAL_OOM = /out of memory|heap limit|invalid size error|allocation failed/i;

/**
 * A pool of sandbox processes. Each call runs on one process with a deadline started when the
 * process takes it (compile first if the process lacks the module, with its own deadline); on expiry
 * the process is killed and replaced, so a runaway guest — or one that makes V8 abort — costs one
 * process, never the server or the calls running elsewhere. Waiting calls are queued per caller and
 * served in turn.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Waiting tasks by caller, each FIFO; `turns` lists callers with waiting tasks, next first. */
  private readonly queues = new Map<string, Pending[]>();
  private readonly turns: string[] = [];
  private waiting = 0;
  private readonly runningByCaller = new Map<string, number>();
  private runningCount = 0;
  private nextId = 1;
  private closed = false;
  /** Processes that died before saying ready, in a row: a broken install must not respawn forever. */
  private startupFailures = 0;
  /** Killed processes that have not exited yet; they count against the process bound. */
  private readonly dying = new Set<ChildProcess>();

  constructor(private readonly options: WorkerPoolOptions) {}

  /**
   * Runs `job` on a sandbox process. An abort of `signal` answers `canceled` at once: a waiting job
   * leaves the queue; a running one's process is killed (SIGKILL) and replaced, as on a timeout.
   */
  run(job: PoolJob, signal?: AbortSignal): Promise<WorkerResult> {
    return this.enqueue({ kind: "run", ...job }, signal);
  }

  /** Compiles `binary` in a sandbox process within `compileTimeoutMs` (publish-time check). */
  compile(task: TaskBase): Promise<WorkerResult> {
    return this.enqueue({ kind: "compile", ...task });
  }

  private enqueue(task: Task, signal?: AbortSignal): Promise<WorkerResult> {
    if (signal?.aborted)
      return Promise.resolve({ kind: "canceled", started: false, stderr: "", memoryBytes: 0 });
    if (this.closed) return Promise.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
    if (this.waiting >= this.options.maxQueueLength) {
      return Promise.reject(
        new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is saturated; retry later", {
          queueLength: this.waiting,
        }),
      );
    }
    const own = this.queues.get(task.callerKey);
    if (own && task.callerKey !== ANONYMOUS_CALLER && own.length >= this.options.maxQueuePerCaller) {
      return Promise.reject(
        new AppError("SERVICE_UNAVAILABLE", "Too many of your wasm calls are waiting; retry later", {
          waiting: own.length,
        }),
      );
    }
    return new Promise<WorkerResult>((resolve, reject) => {
      const pending: Pending = { task, resolve, reject, queueTimer: null, detach: () => {} };
      if (signal) {
        const onAbort = () => this.cancel(pending);
        signal.addEventListener("abort", onAbort, { once: true });
        pending.detach = () => signal.removeEventListener("abort", onAbort);
        pending.resolve = (result) => {
          pending.detach();
          resolve(result);
        };
        pending.reject = (error) => {
          pending.detach();
          reject(error);
        };
      }
      if (own) own.push(pending);
      else {
        this.queues.set(task.callerKey, [pending]);
        this.turns.push(task.callerKey);
      }
      this.waiting++;
      this.pump();
      if (this.queues.get(task.callerKey)?.includes(pending)) {
        pending.queueTimer = setTimeout(() => {
          if (!this.unqueue(pending)) return;
          pending.reject(
            new AppError("SERVICE_UNAVAILABLE", "No wasm worker became free in time; retry later", {
              queueWaitMs: this.options.maxQueueWaitMs,
            }),
          );
        }, this.options.maxQueueWaitMs);
      }
    });
  }

  /** The caller gave up on `pending` (its signal aborted): out of the queue, or its process killed. */
  private cancel(pending: Pending): void {
    const canceled = (started: boolean): WorkerResult => ({
      kind: "canceled",
      started,
      stderr: "",
      memoryBytes: 0,
    });
    if (this.unqueue(pending)) {
      if (pending.queueTimer) clearTimeout(pending.queueTimer);
      pending.resolve(canceled(false));
      return;
    }
    const slot = this.slots.find((candidate) => candidate.running?.pending === pending);
    if (!slot?.running) return;
    this.finish(slot, slot.running);
    pending.resolve(canceled(true));
    this.dying.add(slot.child);
    this.retire(slot, null);
    // Only this call's process: the others keep running their calls.
    slot.child.kill("SIGKILL");
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const pending of queue) {
        if (pending.queueTimer) clearTimeout(pending.queueTimer);
        pending.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
      }
    }
    this.queues.clear();
    this.turns.length = 0;
    this.waiting = 0;
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      slot.dead = true;
      if (slot.running) {
        clearTimeout(slot.running.timer);
        slot.running.pending.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
        slot.running = null;
      }
    }
    await Promise.all(
      [...slots.map((slot) => slot.child), ...this.dying].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            // Unreferenced while it served; held now so that the caller's await sees the exit.
            child.ref();
            child.kill("SIGKILL");
          }),
      ),
    );
  }

  /** What the pool is doing now (for metrics): a few counters and one pass over the processes. */
  stats(): WorkerPoolStats {
    let idle = 0;
    for (const slot of this.slots) if (slot.running === null && !slot.dead) idle++;
    return { busy: this.runningCount, idle, queued: this.waiting };
  }

  /** Number of live sandbox processes (for tests and metrics). */
  get workerCount(): number {
    return this.slots.length;
  }

  /** Process ids of the live sandbox processes (for tests). */
  get pids(): number[] {
    return this.slots.flatMap((slot) => (slot.child.pid === undefined ? [] : [slot.child.pid]));
  }

  private get capacity(): number {
    return this.options.size + this.options.reserved;
  }

  /** Whether `callerKey` may start a task now: a regular process is free, or a reserved one for a caller with nothing running. */
  private mayStart(callerKey: string): boolean {
    if (this.runningCount < this.options.size) return true;
    return this.runningCount < this.capacity && (this.runningByCaller.get(callerKey) ?? 0) === 0;
  }

  /** The next task to start, taking callers in turn; the caller served goes to the back. */
  private take(): Pending | null {
    for (let i = 0; i < this.turns.length; i++) {
      const callerKey = this.turns[i] as string;
      if (!this.mayStart(callerKey)) continue;
      const queue = this.queues.get(callerKey) as Pending[];
      const pending = queue.shift() as Pending;
      this.turns.splice(i, 1);
      if (queue.length > 0) this.turns.push(callerKey);
      else this.queues.delete(callerKey);
      this.waiting--;
      return pending;
    }
    return null;
  }

  private unqueue(pending: Pending): boolean {
    const { callerKey } = pending.task;
    const queue = this.queues.get(callerKey);
    const index = queue ? queue.indexOf(pending) : -1;
    if (!queue || index < 0) return false;
    queue.splice(index, 1);
    this.waiting--;
    if (queue.length === 0) {
      this.queues.delete(callerKey);
      this.turns.splice(this.turns.indexOf(callerKey), 1);
    }
    return true;
  }

  /** How many waiting tasks could start now if processes were there. */
  private startable(): number {
    let regular = Math.max(0, this.options.size - this.runningCount);
    let total = Math.max(0, this.capacity - this.runningCount);
    let count = 0;
    for (const callerKey of this.turns) {
      const waiting = this.queues.get(callerKey)?.length ?? 0;
      const fromRegular = Math.min(waiting, regular);
      regular -= fromRegular;
      total -= fromRegular;
      count += fromRegular;
      if (fromRegular === 0 && total > 0 && (this.runningByCaller.get(callerKey) ?? 0) === 0) {
        total--;
        count++;
      }
    }
    return count;
  }

  private pump(): void {
    while (this.waiting > 0) {
      const slot = this.slots.find((candidate) => candidate.ready && candidate.running === null);
      if (!slot) break;
      const pending = this.take();
      if (!pending) break;
      if (pending.queueTimer) clearTimeout(pending.queueTimer);
      this.start(slot, pending);
    }
    if (this.closed) return;
    const idle = this.slots.filter((slot) => slot.running === null).length;
    let missing = this.startable() - idle;
    while (
      missing > 0 &&
      this.slots.length < this.capacity &&
      this.slots.length + this.dying.size < this.capacity * 2
    ) {
      this.spawn();
      missing--;
    }
  }

  private spawn(): void {
    const child = fork(SANDBOX_PATH, [], {
      // Nothing inherited: no loader flags (tsx, vitest), no environment, no stdin or stdout.
      execArgv: [
        `--max-old-space-size=${this.options.heapMb}`,
        `--max-semi-space-size=${Math.max(1, Math.floor(this.options.heapMb / 16))}`,
        `--wasm-max-mem-pages=${this.options.maxMemPages}`,
        `--wasm-max-table-size=${this.options.maxTableEntries}`,
      ],
      env: {},
      // JSON costs half of what V8's serializer does per message, on each side, for these small
      // messages; the binary goes as base64, once per process and module.
      serialization: "json",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    const slot: Slot = {
      child,
      ready: false,
      running: null,
      modules: new Map(),
      dead: false,
      stderrTail: "",
    };
    this.slots.push(slot);
    child.unref();
    child.channel?.unref();
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      slot.stderrTail = (slot.stderrTail + text).slice(-STDERR_TAIL);
    });
    (child.stderr as unknown as { unref?(): void } | null)?.unref?.();
    child.on("message", (message: { type: string; id?: number; result?: WorkerResult }) => {
      if (message.type === "ready") {
        slot.ready = true;
        this.startupFailures = 0;
        this.pump();
        return;
      }
      const running = slot.running;
      if (!running || running.id !== message.id) return;
      if (message.type === "compiled" && running.pending.task.kind === "run") {
        // The module compiled in time; the call's own wall clock starts now.
        clearTimeout(running.timer);
        running.phase = "run";
        running.timer = setTimeout(() => this.onTimeout(slot, running.id), running.pending.task.timeoutMs);
      } else if (message.type === "result") {
        const result = message.result as WorkerResult;
        if (result.kind === "invalid") slot.modules.delete(running.pending.task.sha);
        this.finish(slot, running);
        running.pending.resolve(result);
        this.pump();
      }
    });
    child.on("error", () => {
      // Spawn or IPC failure: the close handler below reports it.
    });
    child.on("close", (code, signal) => {
      this.dying.delete(child);
      const message = `sandbox process exited (${signal ?? code})`;
      this.retire(slot, {
        kind: "crashed",
        outOfMemory: FATAL_OOM.test(slot.stderrTail),
        message,
        stderr: "",
        memoryBytes: 0,
      });
      if (!this.closed) this.pump();
    });
  }

  private start(slot: Slot, pending: Pending): void {
    const id = this.nextId++;
    const { task } = pending;
    const evict: string[] = [];
    const holds = slot.modules.has(task.sha);
    if (holds && task.kind === "compile") {
      // This process compiled these very bytes (same sha256) before.
      pending.resolve({ kind: "compiled", stderr: "", memoryBytes: 0 });
      queueMicrotask(() => this.pump());
      return;
    }
    if (holds) {
      slot.modules.delete(task.sha);
    } else {
      while (slot.modules.size >= this.options.modulesPerWorker) {
        const oldest = slot.modules.keys().next().value as string;
        slot.modules.delete(oldest);
        evict.push(oldest);
      }
    }
    slot.modules.set(task.sha, true);
    const phase = holds ? "run" : "compile";
    const deadline = phase === "compile" ? task.compileTimeoutMs : (task as PoolJob).timeoutMs;
    const running: Running = {
      pending,
      id,
      phase,
      timer: setTimeout(() => this.onTimeout(slot, id), deadline),
    };
    slot.running = running;
    this.runningCount++;
    this.runningByCaller.set(task.callerKey, (this.runningByCaller.get(task.callerKey) ?? 0) + 1);
    const base = {
      type: task.kind,
      id,
      sha: task.sha,
      evict,
      // Base64 in a JSON message: sent once per process and module.
      ...(holds ? {} : { binary: Buffer.from(task.binary).toString("base64"), memory: task.memory }),
    };
    slot.child.send(
      task.kind === "run"
        ? {
            ...base,
            stdin: task.stdin,
            stdoutCapBytes: task.stdoutCapBytes,
            stderrCapBytes: task.stderrCapBytes,
          }
        : base,
    );
  }

  /** The slot's task is over (answered, timed out or crashed). */
  private finish(slot: Slot, running: Running): void {
    clearTimeout(running.timer);
    if (slot.running === running) slot.running = null;
    this.runningCount--;
    const { callerKey } = running.pending.task;
    const left = (this.runningByCaller.get(callerKey) ?? 1) - 1;
    if (left > 0) this.runningByCaller.set(callerKey, left);
    else this.runningByCaller.delete(callerKey);
  }

  private onTimeout(slot: Slot, id: number): void {
    const running = slot.running;
    if (!running || running.id !== id) return;
    const { task } = running.pending;
    const timeoutMs = running.phase === "compile" ? task.compileTimeoutMs : (task as PoolJob).timeoutMs;
    this.finish(slot, running);
    running.pending.resolve({ kind: "timeout", phase: running.phase, timeoutMs, stderr: "", memoryBytes: 0 });
    this.dying.add(slot.child);
    this.retire(slot, null);
    // SIGKILL is immediate, even for a guest inside a long memory.grow loop.
    slot.child.kill("SIGKILL");
  }

  /** Removes a process from the pool; a task it was running gets `result` (a crash report). */
  private retire(slot: Slot, result: WorkerResult | null): void {
    if (slot.dead) return;
    slot.dead = true;
    if (!slot.ready && result) {
      this.startupFailures++;
      if (this.startupFailures >= 3) {
        for (const queue of this.queues.values()) {
          for (const pending of queue) {
            if (pending.queueTimer) clearTimeout(pending.queueTimer);
            pending.reject(new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: result }));
          }
        }
        this.queues.clear();
        this.turns.length = 0;
        this.waiting = 0;
      }
    }
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    const running = slot.running;
    if (running) {
      this.finish(slot, running);
      if (result) running.pending.resolve(result);
    }
    if (!this.closed) this.pump();
  }
}
