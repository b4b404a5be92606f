import type { RunQueue } from "@spell/engine";
import PgBoss from "pg-boss";

export const RUN_QUEUE = "spell-run";

export interface RunWorkerOptions {
  /** The Postgres pg-boss runs on (schema `pgboss`, shared with the settlement worker). */
  connectionString: string;
  /** Runs one queued execution (`engine.executions.runQueued`); it claims the row itself. */
  run?: (executionId: string) => Promise<void>;
  /** Jobs one process runs at a time (default 8). */
  concurrency?: number;
  /**
   * How long a job may stay active before pg-boss hands it to a retry (default 15 min, longer
   * than the slowest run). A retry of a run that was claimed finds the row no longer `queued` and
   * does nothing: a run happens at most once.
   */
  expireInSeconds?: number;
  /**
   * How often this process looks for jobs whose worker stopped holding them (active past their
   * expiry: the process died) and hands them to a retry; pg-boss's default is 120 s. The check is
   * shared: whichever process's turn comes first does it for all.
   */
  maintenanceIntervalSeconds?: number;
  onError?: (error: unknown) => void;
}

export interface RunWorker extends RunQueue {
  /** Starts taking jobs (a process may queue without working, e.g. before its engine exists). */
  work(run: (executionId: string) => Promise<void>): Promise<void>;
  /** Stops taking jobs (queueing still works); `resume` takes them again with the same handler. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Asynchronous executions' job engine (issue 13): a pg-boss queue any number of API processes share.
 * A job carries only the execution id; the row (`queued`, with its input and charge) is the durable
 * record, and its conditional `queued → running` claim is what makes each run happen once.
 */
export async function startRunWorker(options: RunWorkerOptions): Promise<RunWorker> {
  const onError = options.onError ?? (() => {});
  const concurrency = options.concurrency ?? 8;
  const boss = new PgBoss({
    connectionString: options.connectionString,
    max: 2 + Math.ceil(concurrency / 4),
    application_name: "spell-run",
    schedule: false,
    ...(options.maintenanceIntervalSeconds !== undefined
      ? { maintenanceIntervalSeconds: options.maintenanceIntervalSeconds }
      : {}),
  });
  boss.on("error", onError);
  await boss.start();
  const policy = {
    name: RUN_QUEUE,
    policy: "standard" as const,
    retryLimit: 2,
    retryDelay: 1,
    expireInSeconds: options.expireInSeconds ?? 15 * 60,
  };
  await boss.createQueue(RUN_QUEUE, policy);
  // The queue's settings live in the database, shared by every process, and createQueue keeps the
  // first creator's: an explicit expiry is written so that a changed configuration takes effect.
  if (options.expireInSeconds !== undefined) await boss.updateQueue(RUN_QUEUE, policy);
  const workerIds: string[] = [];
  let handler: ((executionId: string) => Promise<void>) | undefined;
  const worker: RunWorker = {
    async enqueue(executionId) {
      await boss.send(RUN_QUEUE, { executionId });
      // This process's own workers look at once instead of at their next poll.
      for (const id of workerIds) boss.notifyWorker(id);
    },
    async work(run) {
      handler = run;
      // `concurrency` workers of one job each: a slow run never holds back the others' jobs.
      for (let index = 0; index < concurrency; index += 1) {
        workerIds.push(
          await boss.work<{ executionId: string }>(
            RUN_QUEUE,
            { pollingIntervalSeconds: 0.5, batchSize: 1 },
            async ([job]) => {
              if (job) await run(job.data.executionId);
            },
          ),
        );
      }
    },
    async pause() {
      workerIds.length = 0;
      await boss.offWork(RUN_QUEUE);
    },
    async resume() {
      if (handler && workerIds.length === 0) await worker.work(handler);
    },
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 10_000 }),
  };
  if (options.run) await worker.work(options.run);
  return worker;
}
