import { Worker } from "node:worker_threads";
import { AppError } from "@spell/contracts";
import type { CompiledModule } from "./webassembly.ts";

/** What a pool worker answers for one run (see worker.mjs). */
export type WorkerResult = { stderr: string; memoryBytes: number } & (
  | { kind: "exit"; code: number; parsed?: boolean; output?: unknown; stdoutHead?: string }
  | { kind: "output_limit"; stream: "stdout" | "stderr"; capBytes: number }
  | { kind: "trap"; message: string; stackOverflow?: boolean; instantiation?: boolean }
  | { kind: "missing_module" }
  | { kind: "crashed"; outOfMemory: boolean; message: string }
);

export interface PoolJob {
  sha: string;
  module: CompiledModule;
  stdin: Uint8Array;
  timeoutMs: number;
  stdoutCapBytes: number;
  stderrCapBytes: number;
}

export interface WorkerPoolOptions {
  size: number;
  maxMemPages: number;
  /** How long a call may wait for a free worker before it is refused. */
  maxQueueWaitMs: number;
  maxQueueLength: number;
  /** Compiled modules each worker keeps; older ones are dropped and re-sent when needed. */
  modulesPerWorker: number;
  /** V8 heap limits for the worker's JS (it does not bound wasm memory). */
  heapMb: number;
}

interface Pending {
  job: PoolJob;
  resolve(result: WorkerResult): void;
  reject(error: unknown): void;
  queueTimer: NodeJS.Timeout | null;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  running: { pending: Pending; id: number; timer: NodeJS.Timeout } | null;
  /** sha256s this worker holds, oldest first. */
  modules: Map<string, true>;
  dead: boolean;
}

const WORKER_URL = new URL("./worker.mjs", import.meta.url);

/**
 * A fixed-size pool of worker threads. Each call runs on one worker with a wall-clock timer started
 * when the worker takes the call; on expiry the worker is terminated and replaced, so a runaway guest
 * costs one worker, never the process or the calls running on other workers.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  /** Workers that died before saying ready, in a row: a broken install must not respawn forever. */
  private startupFailures = 0;
  /**
   * Terminated workers whose thread has not exited yet. A guest inside a long memory.grow loop keeps
   * its thread busy for seconds after terminate(), so replacements wait when live plus dying threads
   * reach twice the pool size: that bounds threads (and wasm memory) however many guests misbehave.
   */
  private readonly dying = new Set<Worker>();

  constructor(private readonly options: WorkerPoolOptions) {}

  run(job: PoolJob): Promise<WorkerResult> {
    if (this.closed) return Promise.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
    if (this.queue.length >= this.options.maxQueueLength) {
      return Promise.reject(
        new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is saturated; retry later", {
          queueLength: this.queue.length,
        }),
      );
    }
    return new Promise<WorkerResult>((resolve, reject) => {
      const pending: Pending = { job, resolve, reject, queueTimer: null };
      this.queue.push(pending);
      this.pump();
      if (this.queue.includes(pending)) {
        pending.queueTimer = setTimeout(() => {
          const index = this.queue.indexOf(pending);
          if (index < 0) return;
          this.queue.splice(index, 1);
          reject(
            new AppError("SERVICE_UNAVAILABLE", "No wasm worker became free in time; retry later", {
              queueWaitMs: this.options.maxQueueWaitMs,
            }),
          );
        }, this.options.maxQueueWaitMs);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) {
      if (pending.queueTimer) clearTimeout(pending.queueTimer);
      pending.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
    }
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      slot.dead = true;
      if (slot.running) {
        clearTimeout(slot.running.timer);
        slot.running.pending.reject(new AppError("SERVICE_UNAVAILABLE", "The wasm runtime is closed"));
        slot.running = null;
      }
    }
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  /** Number of live worker threads (for tests and metrics). */
  get workerCount(): number {
    return this.slots.length;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((candidate) => candidate.ready && candidate.running === null);
      if (!slot) break;
      const pending = this.queue.shift() as Pending;
      if (pending.queueTimer) clearTimeout(pending.queueTimer);
      this.start(slot, pending);
    }
    if (this.closed) return;
    let missing = this.queue.length - this.slots.filter((slot) => !slot.ready).length;
    while (
      missing > 0 &&
      this.slots.length < this.options.size &&
      this.slots.length + this.dying.size < this.options.size * 2
    ) {
      this.spawn();
      missing--;
    }
  }

  private spawn(): void {
    const worker = new Worker(WORKER_URL, {
      workerData: { maxMemPages: this.options.maxMemPages },
      // No inherited loader flags (tsx, vitest): the worker is plain JS and must start fast.
      execArgv: [],
      env: {},
      resourceLimits: {
        maxOldGenerationSizeMb: this.options.heapMb,
        maxYoungGenerationSizeMb: Math.max(4, Math.floor(this.options.heapMb / 4)),
        stackSizeMb: 4,
      },
    });
    worker.unref();
    const slot: Slot = { worker, ready: false, running: null, modules: new Map(), dead: false };
    this.slots.push(slot);
    worker.on("message", (message: { type: string; id?: number; result?: WorkerResult }) => {
      if (message.type === "ready") {
        slot.ready = true;
        this.startupFailures = 0;
        this.pump();
      } else if (message.type === "result") {
        const running = slot.running;
        if (!running || running.id !== message.id) return;
        clearTimeout(running.timer);
        slot.running = null;
        running.pending.resolve(message.result as WorkerResult);
        this.pump();
      }
    });
    worker.on("error", (error: Error & { code?: string }) => {
      const outOfMemory = error.code === "ERR_WORKER_OUT_OF_MEMORY";
      this.retire(slot, { kind: "crashed", outOfMemory, message: error.message, stderr: "", memoryBytes: 0 });
    });
    worker.on("exit", () => {
      this.retire(slot, {
        kind: "crashed",
        outOfMemory: false,
        message: "worker exited",
        stderr: "",
        memoryBytes: 0,
      });
    });
  }

  private start(slot: Slot, pending: Pending): void {
    const id = this.nextId++;
    const { job } = pending;
    const timer = setTimeout(() => this.onTimeout(slot, id), job.timeoutMs);
    slot.running = { pending, id, timer };
    const evict: string[] = [];
    let module: CompiledModule | undefined;
    if (slot.modules.has(job.sha)) {
      slot.modules.delete(job.sha);
    } else {
      module = job.module;
      while (slot.modules.size >= this.options.modulesPerWorker) {
        const oldest = slot.modules.keys().next().value as string;
        slot.modules.delete(oldest);
        evict.push(oldest);
      }
    }
    slot.modules.set(job.sha, true);
    slot.worker.postMessage({
      type: "run",
      id,
      sha: job.sha,
      module,
      evict,
      stdin: job.stdin,
      stdoutCapBytes: job.stdoutCapBytes,
      stderrCapBytes: job.stderrCapBytes,
    });
  }

  private onTimeout(slot: Slot, id: number): void {
    const running = slot.running;
    if (!running || running.id !== id) return;
    slot.running = null;
    running.pending.reject(
      new AppError("RUNTIME_TIMEOUT", `The module ran longer than ${running.pending.job.timeoutMs} ms`, {
        timeoutMs: running.pending.job.timeoutMs,
      }),
    );
    this.dying.add(slot.worker);
    this.retire(slot, null);
    // Nothing waits for terminate(): the caller already has its answer and the slot is replaced.
    slot.worker
      .terminate()
      .catch(() => undefined)
      .finally(() => {
        this.dying.delete(slot.worker);
        if (!this.closed) this.pump();
      });
  }

  /** Removes a worker from the pool; a call it was running gets `result` (a crash report). */
  private retire(slot: Slot, result: WorkerResult | null): void {
    if (slot.dead) return;
    slot.dead = true;
    if (!slot.ready && result) {
      this.startupFailures++;
      if (this.startupFailures >= 3) {
        for (const pending of this.queue.splice(0)) {
          if (pending.queueTimer) clearTimeout(pending.queueTimer);
          pending.reject(new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: result }));
        }
      }
    }
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    const running = slot.running;
    slot.running = null;
    if (running) {
      clearTimeout(running.timer);
      if (result) running.pending.resolve(result);
    }
    if (!this.closed) this.pump();
  }
}
