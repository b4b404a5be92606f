import PgBoss from "pg-boss";
import type { BillingStore } from "./store.ts";
import type { SettlementQueue, StripeBilling } from "./stripe-billing.ts";

export const SETTLEMENT_QUEUE = "spell-settlement";

export interface SettlementWorkerOptions {
  billing: Pick<StripeBilling, "runSettlement" | "attachSettlementQueue">;
  store: BillingStore;
  /**
   * The Postgres pg-boss runs on (its own schema `pgboss`, its own small pool). Absent — the embedded
   * PGlite, one session for every connection, where pg-boss's locking cannot be trusted — the
   * documented fallback runs the same `settlements` rows in process (see Spec §8).
   */
  connectionString?: string;
  /** How often every process looks for due settlements and orphaned authorizations (default 30 s). */
  sweepIntervalMs?: number;
  /** An authorization without settlement older than this is released (default 15 min). */
  orphanAfterMs?: number;
  /** pg-boss retry delay (seconds, doubled each time: `retryBackoff`) and count. */
  retryDelaySeconds?: number;
  retryLimit?: number;
  onError?: (error: unknown) => void;
}

export interface SettlementWorker extends SettlementQueue {
  /** `pg-boss`, or `in-process` for the embedded database. */
  readonly engine: "pg-boss" | "in-process";
  /** Queues every due settlement and releases orphaned authorizations; returns how many were queued. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Carries out the settlements Stripe did not confirm synchronously: a pg-boss queue (policy
 * `stately`, singleton key = PaymentIntent id, so one job per payment however many processes
 * enqueue it) retried with exponential backoff until Stripe confirms. The `settlements` table is
 * the durable record; the periodic sweep re-enqueues due rows, so a job lost with a crash (or an
 * order written while pg-boss was unreachable) is found again.
 */
export async function startSettlementWorker(options: SettlementWorkerOptions): Promise<SettlementWorker> {
  const onError = options.onError ?? (() => {});
  const sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
  const orphanAfterMs = options.orphanAfterMs ?? 15 * 60_000;
  const retryDelay = options.retryDelaySeconds ?? 2;
  const retryLimit = options.retryLimit ?? 20;
  const { billing, store } = options;

  let enqueue: (paymentIntentId: string) => Promise<void>;
  let stopEngine: () => Promise<void>;
  let engine: SettlementWorker["engine"];

  if (options.connectionString) {
    engine = "pg-boss";
    const boss = new PgBoss({
      connectionString: options.connectionString,
      max: 2,
      application_name: "spell-settlement",
      schedule: false,
    });
    boss.on("error", onError);
    await boss.start();
    await boss.createQueue(SETTLEMENT_QUEUE, {
      name: SETTLEMENT_QUEUE,
      policy: "stately",
      retryLimit,
      retryDelay,
      retryBackoff: true,
      expireInSeconds: 120,
    });
    await boss.work<{ paymentIntentId: string }>(
      SETTLEMENT_QUEUE,
      { pollingIntervalSeconds: 1, batchSize: 1 },
      async ([job]) => {
        if (job) await billing.runSettlement(job.data.paymentIntentId);
      },
    );
    enqueue = async (paymentIntentId) => {
      await boss.send(
        SETTLEMENT_QUEUE,
        { paymentIntentId },
        { singletonKey: paymentIntentId, retryLimit, retryDelay, retryBackoff: true },
      );
    };
    stopEngine = () => boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  } else {
    engine = "in-process";
    // One attempt at a time per payment; retries come from the rows' own next_attempt_at.
    const running = new Set<string>();
    enqueue = async (paymentIntentId) => {
      if (running.has(paymentIntentId)) return;
      running.add(paymentIntentId);
      void billing
        .runSettlement(paymentIntentId)
        .catch(onError)
        .finally(() => running.delete(paymentIntentId));
    };
    stopEngine = async () => {};
  }

  async function sweep(): Promise<number> {
    await store.queueOrphanCancels(orphanAfterMs);
    const due = await store.dueSettlements(100);
    for (const paymentIntentId of due) await enqueue(paymentIntentId);
    return due.length;
  }

  const timer = setInterval(() => void sweep().catch(onError), sweepIntervalMs);
  timer.unref();
  const worker: SettlementWorker = {
    engine,
    enqueue,
    sweep,
    async stop() {
      clearInterval(timer);
      await stopEngine();
    },
  };
  billing.attachSettlementQueue(worker);
  return worker;
}
