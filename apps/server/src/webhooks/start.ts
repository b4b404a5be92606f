import { AppError } from "@spell/contracts";
import { createWebhookStore, type Database } from "@spell/db";
import type { Engine } from "@spell/engine";
import { type DnsLookupAll, HostAllowlist } from "@spell/runtime-api";
import type { Env } from "../env.ts";
import { createWebhookSender } from "./sender.ts";
import {
  type RenderExecution,
  startWebhookWorker,
  type WebhookWorker,
  type WebhookWorkerOptions,
} from "./worker.ts";

export interface RunWebhookDeliveryOptions {
  env: Env;
  /** The Postgres the job engine runs on (the same as the run worker's). */
  connectionString: string;
  database: Database;
  engine: Engine;
  /** The signing secret (the environment's, or the development one kept under `dataDir`). */
  secret: string;
  /** Tests: a resolver, shorter retries and sweeps. */
  lookup?: DnsLookupAll;
  tuning?: Pick<
    WebhookWorkerOptions,
    "retryLimit" | "retryDelaySeconds" | "sweepIntervalMs" | "sweepAfterMs" | "concurrency"
  >;
  timeoutMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * Starts delivering this process's run webhooks: the pg-boss worker, fed right after each state
 * change commits (the outbox rows its statement wrote) and by the periodic sweep.
 */
export async function startRunWebhookDelivery(options: RunWebhookDeliveryOptions): Promise<WebhookWorker> {
  const { database, engine } = options;
  const executions = engine.executions;
  const render: RenderExecution = async (executionId, userId) => {
    if (!executions) throw new AppError("SERVICE_UNAVAILABLE", "Asynchronous executions are not available");
    // The owner's own read, so the body is exactly what `GET /api/executions/get` answers them.
    const user = await database.users.ensureUser(userId);
    const caller = { userId, subject: userId, issuer: "spell-webhooks", isAdmin: false, scopes: [] };
    return (await executions.get({ caller, user }, { id: executionId })).execution;
  };
  const sender = createWebhookSender({
    secret: options.secret,
    allowlist: new HostAllowlist(options.env.webhooks.allowedHosts),
    lookup: options.lookup,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  const worker = await startWebhookWorker({
    connectionString: options.connectionString,
    store: createWebhookStore(database.prisma),
    sender,
    render,
    ...options.tuning,
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const onError = options.onError ?? (() => {});
  const unsubscribe = database.asyncExecutions.onWebhookDeliveries?.((ids) => {
    worker.enqueue(ids).catch(onError);
  });
  return {
    enqueue: worker.enqueue,
    sweep: worker.sweep,
    async stop() {
      unsubscribe?.();
      await worker.stop();
    },
  };
}
