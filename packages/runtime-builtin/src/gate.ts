import { AppError } from "@spell/contracts";

export interface GateOptions {
  /** Tasks running at once. */
  maxConcurrent: number;
  /** Tasks allowed to wait for a turn; past that the call is refused with `SERVICE_UNAVAILABLE`. */
  maxWaiting: number;
}

/**
 * A counting semaphore with a bounded FIFO of waiters. Builtins that run on the libuv thread pool
 * (sharp) go through one so that they never hold every pool thread: DNS lookups, file reads and
 * zlib share those threads with them.
 */
export class Gate {
  private active = 0;
  private peakActive = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: GateOptions) {
    if (!(Number.isInteger(options.maxConcurrent) && options.maxConcurrent >= 1)) {
      throw new RangeError(`Gate.maxConcurrent must be a positive integer, got ${options.maxConcurrent}`);
    }
  }

  /** Tasks running now. */
  get running(): number {
    return this.active;
  }

  /** The most tasks ever seen running at once (for tests and metrics). */
  get peak(): number {
    return this.peakActive;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.options.maxConcurrent) {
      if (this.waiting.length >= this.options.maxWaiting) {
        throw new AppError("SERVICE_UNAVAILABLE", "Too many images are being resized; retry later", {
          maxConcurrent: this.options.maxConcurrent,
          maxWaiting: this.options.maxWaiting,
        });
      }
      // The releasing task hands its slot over directly, so `active` never drops in between.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    this.peakActive = Math.max(this.peakActive, this.active);
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
