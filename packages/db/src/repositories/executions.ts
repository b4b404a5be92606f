import { AppError, type ExecutionStatus, type JsonObject, type RuntimeKind } from "@spell/contracts";
import type {
  AsyncExecutionStore,
  Charge,
  ExecutionLog,
  ExecutionRecord,
  NewExecution,
  StoredExecution,
  StoredOutcome,
} from "@spell/engine";
import { createGroupWriter } from "../batch/group-writer.ts";
import { isUuid, run, type Sql } from "../sql.ts";
import { ASYNC_COMMIT, SETTLED_RESULT, settleReserveCtes } from "./ledger.ts";

const INSERT_COLUMN_COUNT_RANGE = Array.from({ length: 15 }, (_, index) => index);

interface ExecutionRow {
  id: string;
  user_id: string;
  spell_id: string;
  slug: string;
  request_hash: string;
  status: ExecutionStatus;
  outcome: StoredOutcome | null;
}

const EXECUTION_COLUMNS = "id, user_id, spell_id, slug, request_hash, status, outcome";

function toStoredExecution(row: ExecutionRow): StoredExecution {
  return {
    id: row.id,
    userId: row.user_id,
    spellId: row.spell_id,
    slug: row.slug,
    requestHash: row.request_hash,
    status: row.status,
    outcome: row.outcome,
  };
}

/**
 * The artifact that runs is the spell's current one when the execution starts; reading it inside
 * the insert records it without another round trip.
 */
const INSERT_COLUMNS = `(id, user_id, spell_id, artifact_id, slug, runtime, status, idempotency_key, request_hash,
  amount, currency, outcome, error_code, duration_ms, finished_at, log)`;
const INSERT_VALUES = `($1, $2, $3, (SELECT current_artifact_id FROM spells WHERE id = $3), $4, $5, $6, $7, $8,
  $9, $10, $11::jsonb, $12, $13, $14, $15)`;
/** The same insert for many rows at once: one array per column, so the statement text never varies. */
const INSERT_MANY = `INSERT INTO executions ${INSERT_COLUMNS}
  SELECT r.id, r.user_id, r.spell_id, s.current_artifact_id, r.slug, r.runtime, r.status, r.idempotency_key,
         r.request_hash, r.amount, r.currency, r.outcome, r.error_code, r.duration_ms, r.finished_at, r.log
  FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
              $9::int[], $10::text[], $11::jsonb[], $12::text[], $13::int[], $14::timestamptz[], $15::text[])
    AS r(id, user_id, spell_id, slug, runtime, status, idempotency_key, request_hash,
         amount, currency, outcome, error_code, duration_ms, finished_at, log)
  LEFT JOIN spells s ON s.id = r.spell_id`;

/** Finishing an execution; `$1`–`$7`: id, status, outcome, error code, finished at, duration, log. */
const FINISH_UPDATE = `UPDATE executions SET status = $2, outcome = $3::jsonb, error_code = $4, finished_at = $5,
    duration_ms = COALESCE($6, GREATEST(0, round(extract(epoch FROM ($5 - created_at)) * 1000))::int),
    pending_input = NULL, log = $7
  WHERE id = $1`;

/**
 * The finish of a prepaid execution: the outcome, the reserve's debit (capture) or release (cancel)
 * with its balance change, and the settlement row already done, in one statement — so the money is
 * final in the answer's own durable write and a crash leaves nothing pending. A reserve settled
 * already (by the sweep) is left alone and the order stored pending, as for any other charge.
 * Only a `running` row moves: a finish sent again (its first reply lost, retried by `finishLater`
 * with a cancel) must not overwrite a stored success nor release a reserve it debited. A row that
 * is not there at all was begun with its reserve in one asynchronous commit that a database crash
 * lost (`LedgerStore.beginReserve`): nothing is written and `found` says so.
 * `$8`–`$11`: reserve id, settlement key, action, entry kind.
 */
const FINISH_SETTLING_RESERVE = `WITH ${settleReserveCtes("$8::uuid", "$11::text", {
  onlyOnce: true,
  when: "EXISTS (SELECT 1 FROM executions WHERE id = $1 AND status = 'running')",
})},
  settlement AS (
    INSERT INTO settlements (execution_id, billing_record_id, payment_intent_id, action, status, result, finished_at)
    SELECT $1, $8::uuid, $9, $10,
      CASE WHEN EXISTS (SELECT 1 FROM entry) THEN 'done' ELSE 'pending' END,
      CASE WHEN EXISTS (SELECT 1 FROM entry) THEN ${SETTLED_RESULT("$11::text")} END,
      CASE WHEN EXISTS (SELECT 1 FROM entry) THEN now() END
    WHERE EXISTS (SELECT 1 FROM executions WHERE id = $1)
    ON CONFLICT (payment_intent_id) DO NOTHING
  ),
  finished AS (${FINISH_UPDATE} AND status = 'running' RETURNING id)
  SELECT EXISTS (SELECT 1 FROM entry) AS settled, EXISTS (SELECT 1 FROM executions WHERE id = $1) AS found`;

/**
 * The finish found no row to store the answer in: its begin, committed asynchronously, was lost
 * by a database crash (with its reserve). The answer is not delivered and nothing is charged.
 */
function executionLost(executionId: string): AppError {
  return new AppError("SERVICE_UNAVAILABLE", "The database lost this execution; nothing was charged", {
    reason: "execution_lost",
    executionId,
    retryable: true,
  });
}

function insertValues(
  execution: NewExecution,
  status: ExecutionStatus,
  outcome: StoredOutcome | null,
  finishedAt: Date | null,
  log: string | null = null,
): unknown[] {
  return [
    execution.id,
    execution.userId,
    execution.spellId,
    execution.slug,
    execution.runtime,
    status,
    execution.idempotencyKey,
    execution.requestHash,
    execution.price.amount,
    execution.price.currency,
    outcome === null ? null : JSON.stringify(outcome),
    outcome?.kind === "failed" ? outcome.error.code : null,
    outcome?.kind === "succeeded" ? outcome.durationMs : null,
    finishedAt,
    log,
  ];
}

/**
 * `recordSql` serves only `record` (executions written once, finished: free ones without a key, or
 * refused before any money moved): the app gives it connections with asynchronous commit.
 * Everything replays or money depend on uses `sql`. `asyncBegin` lets `begin` honour its
 * `asynchronousCommit` option (off on the embedded server, whose connections share one session).
 */
export function createExecutionLog(
  sql: Sql,
  recordSql: Sql = sql,
  options: { asyncBegin?: boolean } = {},
): ExecutionLog {
  const asyncBegin = options.asyncBegin ?? true;
  const insertOne = async (values: unknown[]) => {
    await run(
      recordSql,
      `INSERT INTO executions ${INSERT_COLUMNS} VALUES ${INSERT_VALUES}`,
      values,
      "executions_record",
    );
  };
  // Free executions without a key are logged after the run; concurrent ones share one INSERT.
  const recordGrouped = createGroupWriter<unknown[]>(
    async (rows) => {
      if (rows.length === 1 && rows[0]) return insertOne(rows[0]);
      const columns = INSERT_COLUMN_COUNT_RANGE.map((index) => rows.map((row) => row[index]));
      await run(recordSql, INSERT_MANY, columns, "executions_record_many");
    },
    { writeOne: insertOne },
  );

  async function get(executionId: string): Promise<StoredExecution | null> {
    if (!isUuid(executionId)) return null;
    const rows = await run<ExecutionRow>(
      sql,
      `SELECT ${EXECUTION_COLUMNS} FROM executions WHERE id = $1`,
      [executionId],
      "executions_get",
    );
    return rows[0] ? toStoredExecution(rows[0]) : null;
  }

  return {
    async begin(execution, beginOptions) {
      const values = insertValues(execution, "running", null, null);
      if (execution.idempotencyKey === null) {
        // Asynchronous commit: the next synchronous commit on any connection (the billing record,
        // whose foreign key also refuses it if a crash lost this row, or the finish) makes it durable.
        const async = asyncBegin && beginOptions?.asynchronousCommit === true;
        await run(
          sql,
          `INSERT INTO executions ${INSERT_COLUMNS} VALUES ${INSERT_VALUES}${async ? ` RETURNING ${ASYNC_COMMIT}` : ""}`,
          values,
          async ? "executions_begin_async" : "executions_begin",
        );
        return { kind: "started" };
      }
      // The (user_id, idempotency_key) unique index arbitrates concurrent duplicates: exactly one insert
      // returns a row. A loser's DO NOTHING waits for the winner's commit, so the read below finds it.
      const inserted = await run(
        sql,
        `INSERT INTO executions ${INSERT_COLUMNS} VALUES ${INSERT_VALUES}
         ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id`,
        values,
        "executions_begin_idempotent",
      );
      if (inserted.length > 0) return { kind: "started" };
      const existing = await run<ExecutionRow>(
        sql,
        `SELECT ${EXECUTION_COLUMNS} FROM executions WHERE user_id = $1 AND idempotency_key = $2`,
        [execution.userId, execution.idempotencyKey],
        "executions_by_key",
      );
      if (!existing[0]) throw new Error("idempotency conflict without a stored execution");
      return { kind: "existing", execution: toStoredExecution(existing[0]) };
    },

    get,

    async finish(executionId, outcome, finishedAt, log, settlement) {
      const values = [
        executionId,
        outcome.kind,
        JSON.stringify(outcome),
        outcome.kind === "failed" ? outcome.error.code : null,
        finishedAt,
        outcome.kind === "succeeded" ? outcome.durationMs : null,
        log ?? null,
      ];
      // A ledger reserve's finish only moves a running row, in its fallback below too.
      let onlyRunning = false;
      if (settlement?.charge.ledgerReserve && isUuid(settlement.charge.billingRecordId)) {
        onlyRunning = true;
        try {
          const rows = await run<{ settled: boolean; found: boolean }>(
            sql,
            FINISH_SETTLING_RESERVE,
            [
              ...values,
              settlement.charge.billingRecordId,
              settlement.charge.paymentIntentId,
              settlement.action,
              settlement.action === "capture" ? "debit" : "release",
            ],
            "executions_finish_reserve",
          );
          if (rows[0]?.found === false) throw executionLost(executionId);
          return { settled: rows[0]?.settled === true };
        } catch (error) {
          // A concurrent settle of the same reserve (the sweep) won the unique index: store the order
          // pending below, and the adapter's settle finds it done.
          if ((error as { code?: unknown } | null)?.code !== "23505") throw error;
        }
      }
      if (settlement) {
        // The outcome and its pending money work in one statement: both are stored, or neither.
        await run(
          sql,
          `WITH settlement AS (
             INSERT INTO settlements (execution_id, billing_record_id, payment_intent_id, action)
             VALUES ($1, $8::uuid, $9, $10) ON CONFLICT (payment_intent_id) DO NOTHING
           )
           ${FINISH_UPDATE}${onlyRunning ? " AND status = 'running'" : ""}`,
          [
            ...values,
            isUuid(settlement.charge.billingRecordId) ? settlement.charge.billingRecordId : null,
            settlement.charge.paymentIntentId,
            settlement.action,
          ],
          "executions_finish_settlement",
        );
        return { settled: false };
      }
      await run(sql, FINISH_UPDATE, values, "executions_finish");
      return { settled: false };
    },

    async markPendingPayment(executionId, pending) {
      const outcome: StoredOutcome = { kind: "failed", error: pending.error };
      await run(
        sql,
        `UPDATE executions SET status = 'pending_payment', pending_input = $2::jsonb, outcome = $3::jsonb,
           error_code = $4
         WHERE id = $1`,
        [executionId, JSON.stringify(pending.input), JSON.stringify(outcome), pending.error.code],
      );
    },

    async claimPendingPayment(executionId) {
      if (!isUuid(executionId)) return null;
      // The status guard makes the claim atomic: of two concurrent confirmations only one row update wins.
      const rows = await run<{ pending_input: JsonObject | null }>(
        sql,
        `UPDATE executions SET status = 'running', outcome = NULL, error_code = NULL
         WHERE id = $1 AND status = 'pending_payment' RETURNING pending_input`,
        [executionId],
      );
      const input = rows[0]?.pending_input;
      return input ? { input } : null;
    },

    async reopenForRetry(executionId, staleAfterMs) {
      if (!isUuid(executionId)) return false;
      // The WHERE clause makes this atomic: of concurrent retries exactly one reopens the row.
      const rows = await run(
        sql,
        `UPDATE executions
           SET status = 'running', outcome = NULL, error_code = NULL, finished_at = NULL, attempted_at = now()
         WHERE id = $1
           AND ((status = 'failed' AND outcome->'error'->'details'->'retryable' = 'true'::jsonb)
             OR (status = 'running' AND attempted_at < now() - make_interval(secs => $2::double precision / 1000)))
         RETURNING id`,
        [executionId, staleAfterMs],
        "executions_reopen",
      );
      return rows.length > 0;
    },

    record(execution, outcome, finishedAt, log) {
      return recordGrouped(insertValues(execution, outcome.kind, outcome, finishedAt, log ?? null));
    },
  };
}

interface OwnedRow {
  id: string;
  user_id: string;
  slug: string;
  runtime: RuntimeKind;
  status: ExecutionStatus;
  outcome: StoredOutcome | null;
  amount: number;
  currency: string;
  created_at: Date;
  finished_at: Date | null;
}

const OWNED_COLUMNS =
  "id, user_id, slug, runtime, status, outcome, amount, currency, created_at, finished_at";

function toExecutionRecord(row: OwnedRow): ExecutionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    slug: row.slug,
    runtime: row.runtime,
    status: row.status,
    outcome: row.outcome,
    price: { amount: row.amount, currency: row.currency },
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

/** The settlement row of a charge kept in `queued_charge`, inserted with the statement's update. */
const QUEUED_CANCEL_SETTLEMENT = `INSERT INTO settlements (execution_id, billing_record_id, payment_intent_id, action)
  SELECT c.id,
    CASE WHEN c.queued_charge->>'billingRecordId' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      THEN (c.queued_charge->>'billingRecordId')::uuid END,
    c.queued_charge->>'paymentIntentId', 'cancel'
  FROM changed c WHERE c.queued_charge IS NOT NULL AND c.queued_charge <> 'null'::jsonb
  ON CONFLICT (payment_intent_id) DO NOTHING`;

/**
 * The run's webhook delivery for `event`, written by the statement whose `changed` CTE made the
 * transition (the outbox): it exists exactly when the state change committed. `RETURNING` hands the
 * new ids to the statement so the webhook worker can be told at once.
 */
function webhookDelivery(event: "start" | "completed"): string {
  return `INSERT INTO webhook_deliveries (execution_id, event, url)
    SELECT c.id, '${event}', c.webhook_url FROM changed c
    WHERE c.webhook_url IS NOT NULL AND '${event}' = ANY (c.webhook_events)
    ON CONFLICT (execution_id, event) DO NOTHING
    RETURNING id`;
}

/** The delivery ids a statement with a `hook` CTE wrote, as text (pg parses text[] into strings). */
const HOOK_IDS = "ARRAY(SELECT id::text FROM hook) AS deliveries";

/**
 * Asynchronous executions (issue 13). Every transition is one conditional statement on the row's
 * status, so concurrent workers, cancels and deadlines never both win. A transition a run's webhook
 * asked for (`start` on the claim, `completed` on every end) writes its delivery in that statement.
 */
export function createAsyncExecutionStore(sql: Sql): AsyncExecutionStore {
  const listeners = new Set<(deliveryIds: string[]) => void>();
  // Called after the statement returned, i.e. committed: the listener may enqueue at once.
  const written = (deliveryIds: string[] | undefined) => {
    if (!deliveryIds || deliveryIds.length === 0) return;
    for (const listener of listeners) {
      try {
        listener(deliveryIds);
      } catch {
        // A listener's failure must not fail the transition; the worker's sweep finds the row.
      }
    }
  };
  return {
    onWebhookDeliveries(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    async queue(executionId, queued) {
      await run(
        sql,
        `UPDATE executions SET status = 'queued', pending_input = $2::jsonb, queued_charge = $3::jsonb,
           cancel_after = $4, webhook_url = $5, webhook_events = $6::text[]
         WHERE id = $1 AND status = 'running'`,
        [
          executionId,
          JSON.stringify(queued.input),
          // JSON null for a free run: a non-null column marks the row as asynchronous.
          JSON.stringify(queued.charge),
          queued.cancelAfter,
          queued.webhook?.url ?? null,
          queued.webhook ? [...new Set(queued.webhook.events)] : null,
        ],
        "executions_queue",
      );
    },

    async claim(executionId) {
      if (!isUuid(executionId)) return null;
      const rows = await run<{
        id: string;
        user_id: string;
        spell_id: string;
        slug: string;
        runtime: RuntimeKind;
        idempotency_key: string | null;
        request_hash: string;
        amount: number;
        currency: string;
        pending_input: JsonObject | null;
        queued_charge: Charge | null;
        deliveries: string[];
      }>(
        sql,
        `WITH changed AS (
           UPDATE executions SET status = 'running', attempted_at = now()
           WHERE id = $1 AND status = 'queued' AND (cancel_after IS NULL OR cancel_after > now())
           RETURNING id, user_id, spell_id, slug, runtime, idempotency_key, request_hash, amount, currency,
             pending_input, queued_charge, webhook_url, webhook_events
         ), hook AS (${webhookDelivery("start")})
         SELECT id, user_id, spell_id, slug, runtime, idempotency_key, request_hash, amount, currency,
           pending_input, queued_charge, ${HOOK_IDS}
         FROM changed`,
        [executionId],
        "executions_claim",
      );
      const row = rows[0];
      if (!row) return null;
      written(row.deliveries);
      return {
        execution: {
          id: row.id,
          userId: row.user_id,
          spellId: row.spell_id,
          slug: row.slug,
          runtime: row.runtime,
          price: { amount: row.amount, currency: row.currency },
          idempotencyKey: row.idempotency_key,
          requestHash: row.request_hash,
        },
        input: row.pending_input ?? {},
        charge: row.queued_charge,
      };
    },

    async cancelQueued(executionId, options) {
      if (!isUuid(executionId)) return { canceled: false, charge: null };
      const rows = await run<{ queued_charge: Charge | null; deliveries: string[] }>(
        sql,
        `WITH changed AS (
           UPDATE executions SET status = 'canceled', outcome = $2::jsonb, error_code = $3, finished_at = $4,
             pending_input = NULL
           WHERE id = $1 AND status = 'queued' AND ($5::text IS NULL OR user_id = $5)
             AND (NOT $6::boolean OR cancel_after <= now())
           RETURNING id, queued_charge, webhook_url, webhook_events
         ), settlement AS (${QUEUED_CANCEL_SETTLEMENT}), hook AS (${webhookDelivery("completed")})
         SELECT queued_charge, ${HOOK_IDS} FROM changed`,
        [
          executionId,
          JSON.stringify(options.outcome),
          options.outcome.kind === "failed" ? options.outcome.error.code : null,
          options.finishedAt,
          options.userId ?? null,
          options.onlyExpired ?? false,
        ],
        "executions_cancel_queued",
      );
      const row = rows[0];
      written(row?.deliveries);
      return row ? { canceled: true, charge: row.queued_charge } : { canceled: false, charge: null };
    },

    async cancelRunning(executionId, userId, outcome, finishedAt) {
      if (!isUuid(executionId)) return false;
      const rows = await run<{ deliveries: string[] }>(
        sql,
        `WITH changed AS (
           UPDATE executions SET status = 'canceled', outcome = $3::jsonb, error_code = $4, finished_at = $5
           WHERE id = $1 AND user_id = $2 AND status = 'running' AND queued_charge IS NOT NULL
           RETURNING id, webhook_url, webhook_events
         ), hook AS (${webhookDelivery("completed")})
         SELECT ${HOOK_IDS} FROM changed`,
        [
          executionId,
          userId,
          JSON.stringify(outcome),
          outcome.kind === "failed" ? outcome.error.code : null,
          finishedAt,
        ],
        "executions_cancel_running",
      );
      written(rows[0]?.deliveries);
      return rows.length > 0;
    },

    async finishRun(executionId, outcome, finishedAt, log, settlement) {
      const rows = await run<{ finished: boolean; deliveries: string[] }>(
        sql,
        `WITH changed AS (
           UPDATE executions SET status = $2, outcome = $3::jsonb, error_code = $4, finished_at = $5,
             duration_ms = COALESCE($6, GREATEST(0, round(extract(epoch FROM ($5 - created_at)) * 1000))::int),
             pending_input = NULL, log = $7
           WHERE id = $1 AND status = 'running'
           RETURNING id, webhook_url, webhook_events
         ), hook AS (${webhookDelivery("completed")}), settlement AS (
           INSERT INTO settlements (execution_id, billing_record_id, payment_intent_id, action)
           SELECT $1, $8::uuid, $9, CASE WHEN EXISTS (SELECT 1 FROM changed) THEN $10 ELSE 'cancel' END
           WHERE $9::text IS NOT NULL
           ON CONFLICT (payment_intent_id) DO NOTHING
         )
         SELECT EXISTS (SELECT 1 FROM changed) AS finished, ${HOOK_IDS}`,
        [
          executionId,
          outcome.kind,
          JSON.stringify(outcome),
          outcome.kind === "failed" ? outcome.error.code : null,
          finishedAt,
          outcome.kind === "succeeded" ? outcome.durationMs : null,
          log,
          settlement && isUuid(settlement.charge.billingRecordId) ? settlement.charge.billingRecordId : null,
          settlement?.charge.paymentIntentId ?? null,
          settlement?.action ?? null,
        ],
        "executions_finish_run",
      );
      written(rows[0]?.deliveries);
      return rows[0]?.finished === true;
    },

    async failStale(executionId, staleAfterMs, outcome, finishedAt) {
      if (!isUuid(executionId)) return { failed: false, charge: null };
      const rows = await run<{ queued_charge: Charge | null; deliveries: string[] }>(
        sql,
        `WITH changed AS (
           UPDATE executions SET status = 'failed', outcome = $2::jsonb, error_code = $3, finished_at = $4,
             pending_input = NULL
           WHERE id = $1 AND status = 'running' AND queued_charge IS NOT NULL
             AND attempted_at < now() - make_interval(secs => $5::double precision / 1000)
           RETURNING id, queued_charge, webhook_url, webhook_events
         ), settlement AS (${QUEUED_CANCEL_SETTLEMENT}), hook AS (${webhookDelivery("completed")})
         SELECT queued_charge, ${HOOK_IDS} FROM changed`,
        [
          executionId,
          JSON.stringify(outcome),
          outcome.kind === "failed" ? outcome.error.code : null,
          finishedAt,
          staleAfterMs,
        ],
        "executions_fail_stale",
      );
      const row = rows[0];
      written(row?.deliveries);
      return row ? { failed: true, charge: row.queued_charge } : { failed: false, charge: null };
    },

    async getOwned(executionId, userId) {
      if (!isUuid(executionId)) return null;
      const rows = await run<OwnedRow>(
        sql,
        `SELECT ${OWNED_COLUMNS} FROM executions WHERE id = $1 AND user_id = $2`,
        [executionId, userId],
        "executions_get_owned",
      );
      return rows[0] ? toExecutionRecord(rows[0]) : null;
    },

    async listOwned(userId, options) {
      const rows = await run<OwnedRow>(
        sql,
        `SELECT ${OWNED_COLUMNS} FROM executions
         WHERE user_id = $1
           AND ($2::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($2, $3::uuid))
         ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $4`,
        [userId, options.before?.createdAt ?? null, options.before?.id ?? null, options.limit],
        "executions_list_owned",
      );
      return rows.map(toExecutionRecord);
    },
  };
}
