import type {
  BillingCustomer,
  BillingRecord,
  BillingRecordStatus,
  BillingStore,
  Settlement,
} from "@spell/billing";
import { AppError } from "@spell/contracts";
import { run, type Sql } from "../sql.ts";

interface BillingRecordRow {
  id: string;
  user_id: string;
  spell_id: string;
  execution_id: string | null;
  amount: number;
  currency: string;
  payment_intent_id: string;
  status: BillingRecordStatus;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
}

interface SettlementRow {
  payment_intent_id: string;
  execution_id: string;
  action: Settlement["action"];
  status: Settlement["status"];
  result: BillingRecordStatus | null;
  attempts: number;
  created_at: Date;
}

const RECORD_COLUMNS =
  "id, user_id, spell_id, execution_id, amount, currency, payment_intent_id, status, failure_code, created_at, updated_at";

function toRecord(row: BillingRecordRow): BillingRecord {
  return {
    id: row.id,
    userId: row.user_id,
    spellId: row.spell_id,
    executionId: row.execution_id,
    amount: row.amount,
    currency: row.currency,
    paymentIntentId: row.payment_intent_id,
    status: row.status,
    failureCode: row.failure_code,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The foreign key to `executions` refused the record: the execution's begin, committed
 * asynchronously, was lost by a database crash after the payment was authorized. The adapter
 * releases the authorization at once (no record, no run); the caller may retry.
 */
function isMissingExecution(error: unknown, executionId: string | null): executionId is string {
  const failure = error as { code?: unknown; constraint?: unknown } | null;
  return (
    executionId !== null &&
    failure?.code === "23503" &&
    failure.constraint === "billing_records_execution_id_fkey"
  );
}

function executionLost(executionId: string): AppError {
  return new AppError("SERVICE_UNAVAILABLE", "The database lost this execution; nothing was charged", {
    reason: "execution_lost",
    executionId,
    retryable: true,
  });
}

/**
 * The billing adapters' persistence over `users`, `billing_records` and `stripe_events`. Every method
 * is one statement, so concurrent API processes stay correct through the unique constraints.
 */
export function createBillingStore(sql: Sql): BillingStore {
  async function findRecordByPaymentIntent(paymentIntentId: string): Promise<BillingRecord | null> {
    const rows = await run<BillingRecordRow>(
      sql,
      `SELECT ${RECORD_COLUMNS} FROM billing_records WHERE payment_intent_id = $1`,
      [paymentIntentId],
      "billing_record_by_intent",
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  return {
    async getCustomer(userId): Promise<BillingCustomer> {
      const rows = await run<{ stripe_customer_id: string | null; default_payment_method_id: string | null }>(
        sql,
        "SELECT stripe_customer_id, default_payment_method_id FROM users WHERE id = $1",
        [userId],
        "billing_customer",
      );
      return {
        stripeCustomerId: rows[0]?.stripe_customer_id ?? null,
        defaultPaymentMethodId: rows[0]?.default_payment_method_id ?? null,
      };
    },

    async setCustomerIdIfUnset(userId, customerId) {
      const rows = await run<{ stripe_customer_id: string }>(
        sql,
        `INSERT INTO users (id, stripe_customer_id, updated_at) VALUES ($1, $2, now())
         ON CONFLICT (id) DO UPDATE
           SET stripe_customer_id = COALESCE(users.stripe_customer_id, EXCLUDED.stripe_customer_id),
               updated_at = now()
         RETURNING stripe_customer_id`,
        [userId, customerId],
      );
      const stored = rows[0]?.stripe_customer_id;
      if (!stored) throw new Error("customer id was not stored");
      return stored;
    },

    async setDefaultPaymentMethod(customerId, paymentMethodId) {
      const rows = await run<{ id: string }>(
        sql,
        `UPDATE users SET default_payment_method_id = $2, updated_at = now()
         WHERE stripe_customer_id = $1 RETURNING id`,
        [customerId, paymentMethodId],
      );
      return rows.length > 0;
    },

    async clearDefaultPaymentMethod(paymentMethodId) {
      await run(
        sql,
        `UPDATE users SET default_payment_method_id = NULL, updated_at = now()
         WHERE default_payment_method_id = $1`,
        [paymentMethodId],
      );
    },

    async createRecord(record) {
      const rows = await run<BillingRecordRow>(
        sql,
        `INSERT INTO billing_records
           (id, user_id, spell_id, execution_id, amount, currency, payment_intent_id, status, failure_code, updated_at)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, now())
         ON CONFLICT (payment_intent_id) DO NOTHING
         RETURNING ${RECORD_COLUMNS}`,
        [
          record.userId,
          record.spellId,
          record.executionId,
          record.amount,
          record.currency,
          record.paymentIntentId,
          record.status,
          record.failureCode,
        ],
        "billing_record_create",
      ).catch((error: unknown) => {
        throw isMissingExecution(error, record.executionId) ? executionLost(record.executionId) : error;
      });
      if (rows[0]) return toRecord(rows[0]);
      // A retried charge got the same intent back through Stripe's idempotency: keep the first row.
      const existing = await findRecordByPaymentIntent(record.paymentIntentId);
      if (!existing) throw new Error("billing record conflict without a row");
      return existing;
    },

    findRecordByPaymentIntent,

    async updateRecordStatus(paymentIntentId, update, from) {
      const rows = await run<BillingRecordRow>(
        sql,
        `UPDATE billing_records
           SET status = $2, failure_code = COALESCE($3, failure_code), updated_at = now()
         WHERE payment_intent_id = $1 AND status = ANY($4::text[])
         RETURNING ${RECORD_COLUMNS}`,
        [paymentIntentId, update.status, update.failureCode ?? null, [...from]],
        "billing_record_update",
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },

    async getSettlement(paymentIntentId) {
      const rows = await run<SettlementRow>(
        sql,
        `SELECT payment_intent_id, execution_id, action, status, result, attempts, created_at
         FROM settlements WHERE payment_intent_id = $1`,
        [paymentIntentId],
        "settlement_get",
      );
      const row = rows[0];
      return row
        ? {
            paymentIntentId: row.payment_intent_id,
            executionId: row.execution_id,
            action: row.action,
            status: row.status,
            result: row.result,
            attempts: row.attempts,
            createdAt: row.created_at,
          }
        : null;
    },

    async completeSettlement(paymentIntentId, result) {
      // One statement, so the settlement, the record and the replayed answer never disagree.
      await run(
        sql,
        `WITH s AS (
           UPDATE settlements SET status = 'done', result = $2, finished_at = now(), updated_at = now()
           WHERE payment_intent_id = $1 AND status = 'pending' RETURNING execution_id
         ), r AS (
           UPDATE billing_records SET status = $2, failure_code = COALESCE($3, failure_code), updated_at = now()
           WHERE payment_intent_id = $1 AND status = ANY($4::text[]) RETURNING id
         )
         UPDATE executions e SET outcome = CASE
             WHEN e.outcome->>'kind' = 'succeeded' AND jsonb_typeof(e.outcome->'billing') = 'object' THEN
               jsonb_set(e.outcome, '{billing}', ((e.outcome->'billing') - 'pending')
                 || jsonb_build_object('charged', $5::text = 'charged', 'status', $5::text))
             WHEN jsonb_typeof(e.outcome->'error'->'details'->'billing') = 'object' THEN
               jsonb_set(e.outcome, '{error,details,billing}', (e.outcome->'error'->'details'->'billing')
                 || jsonb_build_object('charged', $5::text = 'charged', 'status', $5::text,
                                       'refunded', $6::boolean, 'settlementPending', false))
             ELSE e.outcome END
         FROM s WHERE e.id = s.execution_id`,
        [
          paymentIntentId,
          result.status,
          result.failureCode,
          [...result.from],
          result.charge,
          result.refunded,
        ],
        "settlement_complete",
      );
    },

    async noteSettlementAttempt(paymentIntentId, error, retryAfterMs) {
      await run(
        sql,
        `UPDATE settlements SET attempts = attempts + 1, last_error = left($2, 500), updated_at = now(),
           next_attempt_at = now() + make_interval(secs => $3::double precision / 1000)
         WHERE payment_intent_id = $1 AND status = 'pending'`,
        [paymentIntentId, error, retryAfterMs],
        "settlement_attempt",
      );
    },

    async dueSettlements(limit) {
      const rows = await run<{ payment_intent_id: string }>(
        sql,
        `SELECT payment_intent_id FROM settlements WHERE status = 'pending' AND next_attempt_at <= now()
         ORDER BY next_attempt_at LIMIT $1`,
        [limit],
        "settlements_due",
      );
      return rows.map((row) => row.payment_intent_id);
    },

    async queueOrphanCancels(olderThanMs) {
      // An authorization with no settlement is one whose outcome never got stored: its process died
      // or the database went away mid-run. No capture can follow it (a capture needs a stored
      // answer), so it is released — unless its execution is a live attempt still running.
      const rows = await run<{ payment_intent_id: string }>(
        sql,
        `INSERT INTO settlements (execution_id, billing_record_id, payment_intent_id, action)
         SELECT br.execution_id, br.id, br.payment_intent_id, 'cancel'
         FROM billing_records br
         LEFT JOIN executions e ON e.id = br.execution_id
         WHERE br.status = 'pending' AND br.execution_id IS NOT NULL
           AND br.updated_at < now() - make_interval(secs => $1::double precision / 1000)
           AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.payment_intent_id = br.payment_intent_id)
           AND (e.id IS NULL OR e.status <> 'running'
                OR e.attempted_at < now() - make_interval(secs => $1::double precision / 1000))
         ON CONFLICT (payment_intent_id) DO NOTHING
         RETURNING payment_intent_id`,
        [olderThanMs],
      );
      return rows.length;
    },

    async recordEvent(eventId, type) {
      const rows = await run<{ id: string }>(
        sql,
        "INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id",
        [eventId, type],
      );
      return rows.length > 0;
    },

    async forgetEvent(eventId) {
      await run(sql, "DELETE FROM stripe_events WHERE id = $1", [eventId]);
    },
  };
}
