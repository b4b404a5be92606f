import type { PrismaClient } from "../generated/prisma/client.ts";
import { isUuid } from "../sql.ts";

export type WebhookEvent = "start" | "completed";
export type WebhookDeliveryStatus = "pending" | "delivered" | "failed" | "refused";
export type WebhookAttemptOutcome = "delivered" | "failed" | "refused";

/** A delivery as the webhook worker needs it: where, which event, whose run, and its frozen body. */
export interface WebhookDeliveryRecord {
  id: string;
  executionId: string;
  /** The run's owner (null if the execution row is gone). */
  userId: string | null;
  event: WebhookEvent;
  url: string;
  status: WebhookDeliveryStatus;
  /** The signed body, frozen at the first attempt (null before it). */
  body: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface WebhookAttemptRecord {
  attemptedAt: Date;
  outcome: WebhookAttemptOutcome;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookStore {
  get(deliveryId: string): Promise<WebhookDeliveryRecord | null>;
  /** Stores `body` unless one is frozen already; answers the one that is (the first wins). */
  freezeBody(deliveryId: string, body: string): Promise<string>;
  /**
   * One attempt, recorded with the delivery's count; `final` ends a pending delivery in the same
   * transaction (null: it stays pending for the next retry).
   */
  recordAttempt(
    deliveryId: string,
    attempt: WebhookAttemptRecord,
    final: Exclude<WebhookDeliveryStatus, "pending"> | null,
  ): Promise<void>;
  /** Ends a pending delivery without an attempt (its run can no longer be read). */
  fail(deliveryId: string, error: string): Promise<void>;
  /** Pending deliveries written more than `olderThanMs` ago, oldest first: the sweep re-enqueues them. */
  listPending(olderThanMs: number, limit: number): Promise<string[]>;
  /** Pending deliveries older than `maxAgeMs` are failed (their jobs are long gone); returns how many. */
  expire(maxAgeMs: number): Promise<number>;
  /** An execution's deliveries with their attempts, oldest first. */
  listForExecution(
    executionId: string,
  ): Promise<Array<WebhookDeliveryRecord & { attemptList: WebhookAttemptRecord[] }>>;
}

interface DeliveryRow {
  id: string;
  execution_id: string;
  user_id: string | null;
  event: WebhookEvent;
  url: string;
  status: WebhookDeliveryStatus;
  body: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

function toRecord(row: DeliveryRow): WebhookDeliveryRecord {
  return {
    id: row.id,
    executionId: row.execution_id,
    userId: row.user_id,
    event: row.event,
    url: row.url,
    status: row.status,
    body: row.body,
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

const DELIVERY_SELECT = `SELECT d.id::text, d.execution_id::text, e.user_id, d.event, d.url, d.status, d.body,
  d.attempts, d.last_error, d.created_at, d.finished_at
  FROM webhook_deliveries d LEFT JOIN executions e ON e.id = d.execution_id`;

/**
 * The webhook outbox's reads and writes after the row was written (the rows themselves are written
 * by the asynchronous executions' transitions). Off the hot path: the typed client's pool is fine.
 */
export function createWebhookStore(prisma: PrismaClient): WebhookStore {
  return {
    async get(deliveryId) {
      if (!isUuid(deliveryId)) return null;
      const rows = await prisma.$queryRawUnsafe<DeliveryRow[]>(
        `${DELIVERY_SELECT} WHERE d.id = $1::uuid`,
        deliveryId,
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },

    async freezeBody(deliveryId, body) {
      const rows = await prisma.$queryRawUnsafe<Array<{ body: string | null }>>(
        `UPDATE webhook_deliveries SET body = COALESCE(body, $2), updated_at = now()
         WHERE id = $1::uuid RETURNING body`,
        deliveryId,
        body,
      );
      return rows[0]?.body ?? body;
    },

    async recordAttempt(deliveryId, attempt, final) {
      await prisma.$transaction([
        prisma.webhookAttempt.create({
          data: {
            deliveryId,
            attemptedAt: attempt.attemptedAt,
            outcome: attempt.outcome,
            statusCode: attempt.statusCode,
            error: attempt.error,
            durationMs: attempt.durationMs,
          },
        }),
        prisma.webhookDelivery.updateMany({
          where: { id: deliveryId, status: "pending" },
          data: {
            attempts: { increment: 1 },
            lastError: attempt.outcome === "delivered" ? null : attempt.error,
            ...(final ? { status: final, finishedAt: new Date() } : {}),
          },
        }),
      ]);
    },

    async fail(deliveryId, error) {
      await prisma.webhookDelivery.updateMany({
        where: { id: deliveryId, status: "pending" },
        data: { status: "failed", lastError: error, finishedAt: new Date() },
      });
    },

    async listPending(olderThanMs, limit) {
      const rows = await prisma.webhookDelivery.findMany({
        where: { status: "pending", createdAt: { lt: new Date(Date.now() - olderThanMs) } },
        orderBy: { createdAt: "asc" },
        take: limit,
        select: { id: true },
      });
      return rows.map((row) => row.id);
    },

    async expire(maxAgeMs) {
      const result = await prisma.webhookDelivery.updateMany({
        where: { status: "pending", createdAt: { lt: new Date(Date.now() - maxAgeMs) } },
        data: { status: "failed", lastError: "expired: not delivered in time", finishedAt: new Date() },
      });
      return result.count;
    },

    async listForExecution(executionId) {
      if (!isUuid(executionId)) return [];
      const deliveries = await prisma.$queryRawUnsafe<DeliveryRow[]>(
        `${DELIVERY_SELECT} WHERE d.execution_id = $1::uuid ORDER BY d.created_at, d.event DESC`,
        executionId,
      );
      if (deliveries.length === 0) return [];
      const attempts = await prisma.webhookAttempt.findMany({
        where: { deliveryId: { in: deliveries.map((row) => row.id) } },
        orderBy: { attemptedAt: "asc" },
      });
      return deliveries.map((row) => ({
        ...toRecord(row),
        attemptList: attempts
          .filter((attempt) => attempt.deliveryId === row.id)
          .map((attempt) => ({
            attemptedAt: attempt.attemptedAt,
            outcome: attempt.outcome as WebhookAttemptOutcome,
            statusCode: attempt.statusCode,
            error: attempt.error,
            durationMs: attempt.durationMs,
          })),
      }));
    },
  };
}
