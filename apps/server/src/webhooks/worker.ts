import { type ExecutionView, toAppError } from "@spell/contracts";
import type { WebhookDeliveryRecord, WebhookStore } from "@spell/db";
import PgBoss from "pg-boss";
import type { WebhookSender } from "./sender.ts";

export const WEBHOOK_QUEUE = "spell-webhook";

/** Renders the run as `GET /api/executions/get` answers it (the body's `data`). */
export type RenderExecution = (executionId: string, userId: string) => Promise<ExecutionView>;

export interface WebhookWorkerOptions {
  /** The Postgres pg-boss runs on (schema `pgboss`, shared with the run and settlement workers). */
  connectionString: string;
  store: WebhookStore;
  sender: WebhookSender;
  render: RenderExecution;
  /** Retries after the first attempt (default 10: about 1.5 h of exponential backoff). */
  retryLimit?: number;
  /** The first retry's delay in seconds, doubled each time with jitter (default 5). */
  retryDelaySeconds?: number;
  /** How often pending deliveries are re-enqueued (default 60 s). */
  sweepIntervalMs?: number;
  /** A pending delivery at least this old is re-enqueued by the sweep (default 30 s). */
  sweepAfterMs?: number;
  /** A delivery still pending after this long is failed (default 3 days). */
  maxAgeMs?: number;
  /** Deliveries one process sends at a time (default 4). */
  concurrency?: number;
  onError?: (error: unknown) => void;
}

export interface WebhookWorker {
  /** Queues deliveries just written (job id = delivery id: enqueueing one twice queues it once). */
  enqueue(deliveryIds: string[]): Promise<void>;
  /** One sweep now: expire the old, re-enqueue the pending (also run periodically). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

const EVENT_TYPES = { start: "execution.started", completed: "execution.completed" } as const;

/**
 * The run as GET answered it the moment it started. The body is rendered at the first attempt, by
 * which time a quick run may have finished; a start event still says `running` with no result (the
 * result is the completed event's), and an end state never changes, so that body is final.
 */
function asStarted(view: ExecutionView): ExecutionView {
  return {
    ...view,
    status: "running",
    output: null,
    billing: null,
    error: null,
    durationMs: null,
    finishedAt: null,
  };
}

/**
 * Run webhooks' delivery (issue 13): a pg-boss queue every API process shares, one job per
 * delivery row. The row (written with the state change) is the durable record: a job lost between
 * the commit and the send is re-enqueued by the sweep, a job retried after a crash finds the row's
 * frozen body and status. pg-boss's exponential backoff spaces the retries; each attempt is recorded.
 */
export async function startWebhookWorker(options: WebhookWorkerOptions): Promise<WebhookWorker> {
  const onError = options.onError ?? (() => {});
  const concurrency = options.concurrency ?? 4;
  const retryLimit = options.retryLimit ?? 10;
  const boss = new PgBoss({
    connectionString: options.connectionString,
    max: 2,
    application_name: "spell-webhook",
    schedule: false,
  });
  boss.on("error", onError);
  await boss.start();
  await boss.createQueue(WEBHOOK_QUEUE, {
    name: WEBHOOK_QUEUE,
    policy: "standard",
    retryLimit,
    retryDelay: options.retryDelaySeconds ?? 5,
    retryBackoff: true,
    // One render and one bounded POST (10 s); a job active longer than this was abandoned.
    expireInSeconds: 120,
  });

  async function deliver(delivery: WebhookDeliveryRecord, lastTry: boolean): Promise<void> {
    let body = delivery.body;
    if (body === null) {
      if (delivery.userId === null) return options.store.fail(delivery.id, "the execution no longer exists");
      let data: ExecutionView;
      try {
        data = await options.render(delivery.executionId, delivery.userId);
      } catch (thrown) {
        const error = toAppError(thrown);
        // The run cannot be shown (gone, its owner banned): nothing to deliver, now or later. A
        // passing failure (the database) is retried; after the last try the delivery ends failed.
        if (error.status < 500 || lastTry) {
          return options.store.fail(delivery.id, `${error.code}: ${error.message}`);
        }
        throw thrown;
      }
      const payload = {
        type: EVENT_TYPES[delivery.event],
        timestamp: delivery.createdAt.toISOString(),
        data: delivery.event === "start" ? asStarted(data) : data,
      };
      body = await options.store.freezeBody(delivery.id, JSON.stringify(payload));
    }
    const attempt = await options.sender.send({ id: delivery.id, url: delivery.url, body });
    const final =
      attempt.outcome === "delivered"
        ? "delivered"
        : attempt.outcome === "refused"
          ? "refused"
          : lastTry
            ? "failed"
            : null;
    await options.store.recordAttempt(delivery.id, attempt, final);
    // Thrown so pg-boss schedules the next try with its backoff.
    if (final === null) throw new Error(`webhook ${delivery.id}: ${attempt.error ?? "failed"}`);
  }

  const workerIds: string[] = [];
  for (let index = 0; index < concurrency; index += 1) {
    workerIds.push(
      await boss.work<{ deliveryId: string }>(
        WEBHOOK_QUEUE,
        { pollingIntervalSeconds: 1, batchSize: 1, includeMetadata: true },
        async ([job]) => {
          if (!job) return;
          const delivery = await options.store.get(job.data.deliveryId);
          if (delivery?.status !== "pending") return;
          await deliver(delivery, job.retryCount >= job.retryLimit);
        },
      ),
    );
  }

  const worker: WebhookWorker = {
    async enqueue(deliveryIds) {
      for (const deliveryId of deliveryIds) {
        await boss.send(WEBHOOK_QUEUE, { deliveryId }, { id: deliveryId });
      }
      for (const id of workerIds) boss.notifyWorker(id);
    },
    async sweep() {
      await options.store.expire(options.maxAgeMs ?? 3 * 24 * 60 * 60 * 1000);
      const pending = await options.store.listPending(options.sweepAfterMs ?? 30_000, 500);
      if (pending.length > 0) await worker.enqueue(pending);
    },
    async stop() {
      clearInterval(timer);
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await options.sender.close();
    },
  };
  const timer = setInterval(() => {
    worker.sweep().catch(onError);
  }, options.sweepIntervalMs ?? 60_000);
  timer.unref();
  // Deliveries a crashed process left pending are picked up at start, not a minute later.
  worker.sweep().catch(onError);
  return worker;
}
