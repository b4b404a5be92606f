import type { BillingCustomer, BillingRecord, BillingRecordStatus, BillingStore } from "@spell/billing";
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
      );
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
