import type {
  LedgerAccount,
  LedgerEntry,
  LedgerEntryKind,
  LedgerStore,
  ReserveResult,
  SpendLimits,
} from "@spell/billing";
import pg from "pg";
import { isEmbeddedUrl } from "../embedded.ts";
import { isUuid, query, run, type Sql, transaction } from "../sql.ts";
import { createTokenSpendStore, type TokenSpendStore } from "./token-spend.ts";

interface EntryRow {
  id: string;
  user_id: string;
  currency: string;
  kind: LedgerEntryKind;
  amount: string;
  balance_after: string;
  execution_id: string | null;
  reserve_id: string | null;
  payment_intent_id: string | null;
  description: string | null;
  created_at: Date;
}

interface BalanceRow {
  balance: string;
  day_start: string;
  day_spent: string;
  month_start: string;
  month_spent: string;
  admin_daily_limit: string | null;
  admin_monthly_limit: string | null;
  user_daily_limit: string | null;
  user_monthly_limit: string | null;
  auto_reload_threshold: string | null;
  auto_reload_amount: number | null;
  auto_reload_monthly_cap: number | null;
  auto_reload_month: string | null;
  auto_reload_month_total: number;
  auto_reload_failed_at: Date | null;
  auto_reload_failure: string | null;
}

type ReservedRow = EntryRow & { reload_due: boolean };

const ENTRY_COLUMNS =
  "id, user_id, currency, kind, amount, balance_after, execution_id, reserve_id, payment_intent_id, description, created_at";

/** Dates as `YYYY-MM-DD` text, never through a JS Date and a time zone. */
const BALANCE_COLUMNS = `balance, day_start::text AS day_start, day_spent, month_start::text AS month_start,
  month_spent, admin_daily_limit, admin_monthly_limit, user_daily_limit, user_monthly_limit,
  auto_reload_threshold, auto_reload_amount, auto_reload_monthly_cap,
  auto_reload_month::text AS auto_reload_month, auto_reload_month_total, auto_reload_failed_at,
  auto_reload_failure`;

/** The spend of the current window: the stored counter when it is for that window, else nothing yet. */
const DAY_SPENT = "(CASE WHEN day_start = $4::date THEN day_spent ELSE 0 END)";
const MONTH_SPENT = "(CASE WHEN month_start = $5::date THEN month_spent ELSE 0 END)";
const DAY_LIMIT = "LEAST(admin_daily_limit, user_daily_limit)";
const MONTH_LIMIT = "LEAST(admin_monthly_limit, user_monthly_limit)";

/** The prepaid reserve's CTEs: the balance and caps checked and moved (`balance`), the entry (`entry`). */
const RESERVE_CTES = `balance AS (
    UPDATE ledger_balances SET
      balance = balance - $3,
      day_spent = ${DAY_SPENT} + $3, day_start = $4::date,
      month_spent = ${MONTH_SPENT} + $3, month_start = $5::date,
      updated_at = now()
    WHERE user_id = $1 AND currency = $2 AND balance >= $3
      AND (${DAY_LIMIT} IS NULL OR ${DAY_SPENT} + $3 <= ${DAY_LIMIT})
      AND (${MONTH_LIMIT} IS NULL OR ${MONTH_SPENT} + $3 <= ${MONTH_LIMIT})
    RETURNING balance, (auto_reload_threshold IS NOT NULL AND balance < auto_reload_threshold) AS reload_due
  ),
  entry AS (
    INSERT INTO ledger_entries (user_id, currency, kind, amount, balance_after, execution_id, description)
    SELECT $1, $2, 'reserve', -$3::bigint, balance, $6::uuid, $7 FROM balance
    RETURNING ${ENTRY_COLUMNS}
  )`;

/** The prepaid reserve: balance, caps and the entry in one statement (see LedgerStore.reserve). */
const RESERVE = `WITH ${RESERVE_CTES}
  SELECT entry.*, balance.reload_due FROM entry, balance`;

/**
 * The commit of the statement it ends (an implicit, one-statement transaction) does not wait for
 * the WAL flush: `set_config(…, true)` is local to that transaction, so nothing after it on the
 * connection is affected. Put in the final select list, it runs exactly when a row was written.
 */
export const ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true)";

/**
 * The begin and the reserve of an execution without an idempotency key, in one statement (see
 * LedgerStore.beginReserve): the reserve CTEs above, then the execution's `running` row inserted
 * from the balance CTE, so a refused reserve writes nothing. The row's columns are those
 * `ExecutionLog.begin` writes (executions.ts). `$8`–`$12`: spell id, slug, runtime, request hash,
 * price (minor units).
 */
const BEGIN_RESERVE = `WITH ${RESERVE_CTES},
  execution AS (
    INSERT INTO executions (id, user_id, spell_id, artifact_id, slug, runtime, status, request_hash, amount, currency)
    SELECT $6::uuid, $1, $8::uuid, (SELECT current_artifact_id FROM spells WHERE id = $8::uuid), $9, $10,
      'running', $11, $12::int, $2
    FROM balance
  )
  SELECT entry.*, balance.reload_due, ${ASYNC_COMMIT} AS commit_mode FROM entry, balance`;

/**
 * The debit or release of one reserve as CTEs (`reserve`, `balance`, `entry`) over the reserve id
 * and the entry kind (`'debit'` or `'release'`), both SQL expressions: a release gives the amount
 * back and takes it off the spend counters of the reserve's own day and month. The unique index on
 * settled reserves makes a second one fail whole. `onlyOnce` skips a reserve already settled
 * instead (the execution's finish must not fail on it: it falls back to a pending settlement).
 * `when`, an SQL condition, must also hold for anything to move.
 */
export function settleReserveCtes(
  reserveId: string,
  kind: string,
  options: { onlyOnce?: boolean; when?: string } = {},
): string {
  const once = options.onlyOnce
    ? `AND NOT EXISTS (SELECT 1 FROM ledger_entries s WHERE s.reserve_id = ${reserveId} AND s.kind IN ('debit', 'release'))`
    : "";
  const when = options.when ? `AND ${options.when}` : "";
  return `reserve AS (
    SELECT id, user_id, currency, amount, execution_id, created_at FROM ledger_entries
    WHERE id = ${reserveId} AND kind = 'reserve' ${once} ${when}
  ),
  balance AS (
    UPDATE ledger_balances b SET
      balance = b.balance - CASE WHEN ${kind} = 'release' THEN r.amount ELSE 0 END,
      day_spent = CASE WHEN ${kind} = 'release' AND b.day_start = (r.created_at AT TIME ZONE 'UTC')::date
        THEN GREATEST(b.day_spent + r.amount, 0) ELSE b.day_spent END,
      month_spent = CASE WHEN ${kind} = 'release'
          AND b.month_start = date_trunc('month', r.created_at AT TIME ZONE 'UTC')::date
        THEN GREATEST(b.month_spent + r.amount, 0) ELSE b.month_spent END,
      updated_at = now()
    FROM reserve r WHERE b.user_id = r.user_id AND b.currency = r.currency
    RETURNING b.balance
  ),
  entry AS (
    INSERT INTO ledger_entries (user_id, currency, kind, amount, balance_after, execution_id, reserve_id)
    SELECT r.user_id, r.currency, ${kind}, CASE WHEN ${kind} = 'release' THEN -r.amount ELSE 0 END, b.balance,
      r.execution_id, r.id
    FROM reserve r, balance b
    RETURNING id
  )`;
}

/** The `result` of a settlement its debit or release finished, over the entry kind. */
export const SETTLED_RESULT = (kind: string) =>
  `CASE WHEN ${kind} = 'debit' THEN 'succeeded' ELSE 'canceled' END`;

/** Debit or release of one reserve with its `settlements` row marked done, in one statement. */
const SETTLE = `WITH ${settleReserveCtes("$1::uuid", "$2")},
  settled AS (
    UPDATE settlements SET status = 'done', result = ${SETTLED_RESULT("$2")},
      finished_at = now(), updated_at = now()
    WHERE payment_intent_id = $3 AND status = 'pending' AND EXISTS (SELECT 1 FROM entry)
  )
  SELECT count(*)::int AS settled FROM entry`;

const CREDIT = `WITH balance AS (
    UPDATE ledger_balances SET balance = balance + $3, updated_at = now()
    WHERE user_id = $1 AND currency = $2 RETURNING balance
  )
  INSERT INTO ledger_entries (user_id, currency, kind, amount, balance_after, payment_intent_id, description)
  SELECT $1, $2, 'top_up', $3::bigint, balance, $4, $5 FROM balance
  RETURNING balance_after`;

type RefundReservation = Awaited<ReturnType<LedgerStore["reserveRefund"]>>;
type TopUpRecord = NonNullable<Awaited<ReturnType<LedgerStore["topUpOf"]>>>;

/** A top-up and what of it is refunded: refunds (−) less the ones given back (+), both keyed. */
const TOP_UP = `SELECT t.user_id, t.currency, t.payment_intent_id, t.amount,
    COALESCE((SELECT -sum(r.amount) FROM ledger_entries r
      WHERE r.payment_intent_id = t.payment_intent_id AND r.user_id = t.user_id
        AND r.kind IN ('refund', 'adjustment') AND r.refund_key IS NOT NULL), 0) AS refunded
  FROM ledger_entries t WHERE t.payment_intent_id = $1 AND t.kind = 'top_up'`;

function toTopUp(row: {
  user_id: string;
  currency: string;
  payment_intent_id: string;
  amount: string;
  refunded: string;
}): TopUpRecord {
  return {
    userId: row.user_id,
    currency: row.currency,
    paymentIntentId: row.payment_intent_id,
    amount: Number(row.amount),
    refunded: Number(row.refunded),
  };
}

/** Appends one keyed entry and moves the (already locked) balance by `amount`, in one statement. */
const KEYED_ENTRY = `WITH balance AS (
    UPDATE ledger_balances SET balance = balance + $4, updated_at = now()
    WHERE user_id = $1 AND currency = $2 RETURNING balance
  )
  INSERT INTO ledger_entries (user_id, currency, kind, amount, balance_after, payment_intent_id, refund_key, description)
  SELECT $1, $2, $3, $4::bigint, balance, $5, $6, $7 FROM balance
  RETURNING balance_after`;

function toEntry(row: EntryRow): LedgerEntry {
  return {
    id: row.id,
    userId: row.user_id,
    currency: row.currency,
    kind: row.kind,
    amount: Number(row.amount),
    balanceAfter: Number(row.balance_after),
    executionId: row.execution_id,
    reserveId: row.reserve_id,
    paymentIntentId: row.payment_intent_id,
    description: row.description,
    createdAt: row.created_at,
  };
}

const numberOrNull = (value: string | null): number | null => (value === null ? null : Number(value));

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "23505";
}

/**
 * `database.ledger`: the prepaid adapter's ledger over `ledger_balances` and `ledger_entries`. Each
 * money movement is one statement (atomic on its own), so any number of API processes stay correct:
 * concurrent reserves of one user serialize on the balance row, the CHECK and the conditional
 * UPDATE keep it non-negative, and the partial unique indexes make every settlement and top-up once.
 */
export function createLedgerStore(sql: Sql): LedgerStore {
  const ensureBalance = (userId: string, currency: string) =>
    run(
      sql,
      "INSERT INTO ledger_balances (user_id, currency) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [userId, currency],
      "ledger_ensure_balance",
    );

  async function readBalance(userId: string, currency: string): Promise<BalanceRow | null> {
    const rows = await run<BalanceRow>(
      sql,
      `SELECT ${BALANCE_COLUMNS} FROM ledger_balances WHERE user_id = $1 AND currency = $2`,
      [userId, currency],
      "ledger_balance",
    );
    return rows[0] ?? null;
  }

  /** Why a reserve was refused (read only on this path, so a reserve that passes costs one round trip). */
  async function refusal(request: {
    userId: string;
    currency: string;
    amount: number;
    day: string;
    month: string;
  }): Promise<ReserveResult> {
    const row = await readBalance(request.userId, request.currency);
    const balance = row ? Number(row.balance) : 0;
    if (!row || balance < request.amount) return { kind: "insufficient", balance };
    const daySpent = row.day_start === request.day ? Number(row.day_spent) : 0;
    const dayLimit = minOf(row.admin_daily_limit, row.user_daily_limit);
    if (dayLimit !== null && daySpent + request.amount > dayLimit) {
      return { kind: "limit", window: "day", limit: dayLimit, spent: daySpent };
    }
    const monthSpent = row.month_start === request.month ? Number(row.month_spent) : 0;
    const monthLimit = minOf(row.admin_monthly_limit, row.user_monthly_limit) ?? 0;
    return { kind: "limit", window: "month", limit: monthLimit, spent: monthSpent };
  }

  async function settleReserve(reserveId: string, outcome: "debit" | "release", settlementKey: string) {
    if (!isUuid(reserveId)) return "unknown" as const;
    try {
      const rows = await run<{ settled: number }>(
        sql,
        SETTLE,
        [reserveId, outcome, settlementKey],
        "ledger_settle",
      );
      return (rows[0]?.settled ?? 0) > 0 ? ("settled" as const) : ("unknown" as const);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await run(
        sql,
        `UPDATE settlements SET status = 'done', finished_at = now(), updated_at = now()
         WHERE payment_intent_id = $1 AND status = 'pending'`,
        [settlementKey],
      );
      return "already" as const;
    }
  }

  return {
    async reserve(request): Promise<ReserveResult> {
      const values = [
        request.userId,
        request.currency,
        request.amount,
        request.day,
        request.month,
        request.executionId,
        request.description,
      ];
      try {
        const rows = await run<ReservedRow>(sql, RESERVE, values, "ledger_reserve");
        if (rows[0]) return { kind: "reserved", entry: toEntry(rows[0]), autoReloadDue: rows[0].reload_due };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const existing = await run<EntryRow & { settled: boolean }>(
          sql,
          `SELECT ${ENTRY_COLUMNS}, EXISTS (SELECT 1 FROM ledger_entries s
               WHERE s.reserve_id = e.id AND s.kind IN ('debit', 'release')) AS settled
           FROM ledger_entries e WHERE execution_id = $1::uuid AND kind = 'reserve'`,
          [request.executionId],
        );
        const found = existing[0];
        if (found?.settled) return { kind: "settled", entry: toEntry(found) };
        if (found) return { kind: "reserved", entry: toEntry(found), autoReloadDue: false };
        throw error;
      }
      return refusal(request);
    },

    async beginReserve(request): Promise<ReserveResult> {
      const { execution } = request;
      if (execution.idempotencyKey !== null) {
        throw new Error("beginReserve is for executions without an idempotency key");
      }
      // A fresh execution id: neither the row's primary key nor the one-reserve-per-execution index
      // can conflict, so there is no duplicate to look up (keyed calls take `begin` + `reserve`).
      const rows = await run<ReservedRow>(
        sql,
        BEGIN_RESERVE,
        [
          request.userId,
          request.currency,
          request.amount,
          request.day,
          request.month,
          execution.id,
          request.description,
          execution.spellId,
          execution.slug,
          execution.runtime,
          execution.requestHash,
          execution.price.amount,
        ],
        "ledger_begin_reserve",
      );
      if (rows[0]) return { kind: "reserved", entry: toEntry(rows[0]), autoReloadDue: rows[0].reload_due };
      return refusal(request);
    },

    settleReserve,

    async settlementOf(reserveId) {
      if (!isUuid(reserveId)) return null;
      const rows = await run<{ kind: "debit" | "release" }>(
        sql,
        `SELECT kind FROM ledger_entries WHERE reserve_id = $1::uuid AND kind IN ('debit', 'release')`,
        [reserveId],
        "ledger_settlement_of",
      );
      return rows[0]?.kind ?? null;
    },

    async creditTopUp(credit) {
      await ensureBalance(credit.userId, credit.currency);
      try {
        const rows = await run<{ balance_after: string }>(
          sql,
          CREDIT,
          [credit.userId, credit.currency, credit.amount, credit.paymentIntentId, credit.description],
          "ledger_credit",
        );
        return { credited: rows.length > 0, balance: Number(rows[0]?.balance_after ?? 0) };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const row = await readBalance(credit.userId, credit.currency);
        return { credited: false, balance: row ? Number(row.balance) : 0 };
      }
    },

    async account(userId, currency, day, month): Promise<LedgerAccount> {
      const row = await readBalance(userId, currency);
      const threshold = numberOrNull(row?.auto_reload_threshold ?? null);
      return {
        userId,
        currency,
        balance: row ? Number(row.balance) : 0,
        daySpent: row && row.day_start === day ? Number(row.day_spent) : 0,
        monthSpent: row && row.month_start === month ? Number(row.month_spent) : 0,
        dayStart: day,
        monthStart: month,
        adminLimits: {
          daily: numberOrNull(row?.admin_daily_limit ?? null),
          monthly: numberOrNull(row?.admin_monthly_limit ?? null),
        },
        userLimits: {
          daily: numberOrNull(row?.user_daily_limit ?? null),
          monthly: numberOrNull(row?.user_monthly_limit ?? null),
        },
        autoReload:
          threshold !== null && row?.auto_reload_amount != null
            ? { threshold, amount: row.auto_reload_amount, monthlyCap: row.auto_reload_monthly_cap }
            : null,
        autoReloadMonthTotal: row && row.auto_reload_month === month ? row.auto_reload_month_total : 0,
        autoReloadFailure:
          row?.auto_reload_failed_at && row.auto_reload_failure !== null
            ? { at: row.auto_reload_failed_at, code: row.auto_reload_failure }
            : null,
      };
    },

    async entries(userId, limit) {
      const rows = await run<EntryRow>(
        sql,
        `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE user_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2`,
        [userId, limit],
        "ledger_entries",
      );
      return rows.map(toEntry);
    },

    async setLimits(userId, currency, by, limits: Partial<SpendLimits>) {
      await ensureBalance(userId, currency);
      const prefix = by === "admin" ? "admin" : "user";
      const sets: string[] = [];
      const values: unknown[] = [userId, currency];
      if (limits.daily !== undefined) {
        values.push(limits.daily);
        sets.push(`${prefix}_daily_limit = $${values.length}`);
      }
      if (limits.monthly !== undefined) {
        values.push(limits.monthly);
        sets.push(`${prefix}_monthly_limit = $${values.length}`);
      }
      if (sets.length === 0) return;
      await run(
        sql,
        `UPDATE ledger_balances SET ${sets.join(", ")}, updated_at = now() WHERE user_id = $1 AND currency = $2`,
        values,
      );
    },

    async setAutoReload(userId, currency, settings) {
      await ensureBalance(userId, currency);
      await run(
        sql,
        `UPDATE ledger_balances SET auto_reload_threshold = $3, auto_reload_amount = $4,
           auto_reload_monthly_cap = $5, updated_at = now()
         WHERE user_id = $1 AND currency = $2`,
        [
          userId,
          currency,
          settings?.threshold ?? null,
          settings?.amount ?? null,
          settings?.monthlyCap ?? null,
        ],
      );
    },

    async claimAutoReload(userId, currency, month) {
      const total = "(CASE WHEN auto_reload_month = $3::date THEN auto_reload_month_total ELSE 0 END)";
      const rows = await run<{ auto_reload_amount: number; claimed_at: string }>(
        sql,
        `UPDATE ledger_balances SET auto_reload_started_at = clock_timestamp(), auto_reload_month = $3::date,
           auto_reload_month_total = ${total} + auto_reload_amount
         WHERE user_id = $1 AND currency = $2 AND auto_reload_threshold IS NOT NULL
           AND auto_reload_amount IS NOT NULL AND balance < auto_reload_threshold
           AND (auto_reload_started_at IS NULL OR auto_reload_started_at < now() - interval '5 minutes')
           AND (auto_reload_monthly_cap IS NULL OR ${total} + auto_reload_amount <= auto_reload_monthly_cap)
         RETURNING auto_reload_amount, (extract(epoch FROM auto_reload_started_at) * 1000000)::bigint::text AS claimed_at`,
        [userId, currency, month],
      );
      const row = rows[0];
      // Unique per claim (claims exclude each other): a retry after a decline is a new PaymentIntent.
      return row ? { amount: row.auto_reload_amount, key: `${month}:${row.claimed_at}` } : null;
    },

    async finishAutoReload(userId, currency, failure) {
      if (!failure) {
        await run(
          sql,
          `UPDATE ledger_balances SET auto_reload_started_at = NULL, auto_reload_failed_at = NULL,
             auto_reload_failure = NULL
           WHERE user_id = $1 AND currency = $2`,
          [userId, currency],
        );
        return;
      }
      // The month's total gets back what the caller knows was not charged; the claim time stays (backoff).
      await run(
        sql,
        `UPDATE ledger_balances SET auto_reload_failed_at = now(), auto_reload_failure = $3,
           auto_reload_month_total = GREATEST(auto_reload_month_total - $4, 0)
         WHERE user_id = $1 AND currency = $2`,
        [userId, currency, failure.code, failure.amount],
      );
    },

    async sweep(olderThanMs) {
      let settled = 0;
      const pending = await run<{ payment_intent_id: string; action: string }>(
        sql,
        `SELECT payment_intent_id, action FROM settlements
         WHERE status = 'pending' AND payment_intent_id LIKE 'prepaid:%'
           AND created_at < now() - make_interval(secs => $1::float8 / 1000)
         LIMIT 100`,
        [olderThanMs],
      );
      for (const row of pending) {
        const reserveId = row.payment_intent_id.slice("prepaid:".length);
        const outcome = row.action === "capture" ? "debit" : "release";
        if ((await settleReserve(reserveId, outcome, row.payment_intent_id)) === "settled") settled += 1;
      }
      // A reserve with no settlement at all: its process died between the reserve and the stored answer.
      const orphans = await run<{ id: string }>(
        sql,
        `SELECT r.id FROM ledger_entries r
         WHERE r.kind = 'reserve' AND r.created_at < now() - make_interval(secs => $1::float8 / 1000)
           AND NOT EXISTS (SELECT 1 FROM ledger_entries s WHERE s.reserve_id = r.id)
           AND NOT EXISTS (SELECT 1 FROM settlements t WHERE t.payment_intent_id = 'prepaid:' || r.id::text)
         LIMIT 100`,
        [olderThanMs],
      );
      for (const row of orphans) {
        if ((await settleReserve(row.id, "release", `prepaid:${row.id}`)) === "settled") settled += 1;
      }
      return settled;
    },

    async topUpOf(paymentIntentId) {
      const rows = await run<Parameters<typeof toTopUp>[0]>(sql, TOP_UP, [paymentIntentId]);
      return rows[0] ? toTopUp(rows[0]) : null;
    },

    async reserveRefund({ paymentIntentId, key, amount }): Promise<RefundReservation> {
      return transaction(sql.pool, async (client) => {
        const found = await query<Parameters<typeof toTopUp>[0]>(client, TOP_UP, [paymentIntentId]);
        if (!found[0]) return { kind: "unknown" };
        const { user_id: userId, currency } = found[0];
        // The balance row lock serializes refunds, reserves and credits of this user: read after it.
        const locked = await query<{ balance: string }>(
          client,
          "SELECT balance FROM ledger_balances WHERE user_id = $1 AND currency = $2 FOR UPDATE",
          [userId, currency],
        );
        const balance = Number(locked[0]?.balance ?? 0);
        const fresh = await query<Parameters<typeof toTopUp>[0]>(client, TOP_UP, [paymentIntentId]);
        const topUp = toTopUp(fresh[0] ?? found[0]);
        const previous = await query<{ kind: string; amount: string; balance_after: string }>(
          client,
          `SELECT kind, amount, balance_after FROM ledger_entries
           WHERE refund_key = $1 AND kind IN ('refund', 'adjustment')`,
          [key],
        );
        const reserved = previous.find((entry) => entry.kind === "refund");
        if (reserved) {
          return {
            kind: "existing",
            topUp,
            amount: -Number(reserved.amount) / MICROS_PER_MINOR_UNIT,
            balance,
            compensated: previous.some((entry) => entry.kind === "adjustment"),
          };
        }
        // Whole minor units: Stripe refunds no fraction of a cent.
        const refundable = Math.floor(
          Math.min(topUp.amount - topUp.refunded, balance) / MICROS_PER_MINOR_UNIT,
        );
        const wanted = amount ?? refundable;
        if (wanted < 1 || wanted > refundable) {
          return { kind: "not_refundable", topUp, refundable, balance };
        }
        const rows = await query<{ balance_after: string }>(client, KEYED_ENTRY, [
          userId,
          currency,
          "refund",
          -wanted * MICROS_PER_MINOR_UNIT,
          paymentIntentId,
          key,
          "refund of a top-up",
        ]);
        return {
          kind: "reserved",
          topUp,
          amount: wanted,
          balance: Number(rows[0]?.balance_after ?? balance),
          compensated: false,
        };
      });
    },

    async cancelRefund(key) {
      const rows = await run<{
        user_id: string;
        currency: string;
        amount: string;
        payment_intent_id: string;
      }>(
        sql,
        "SELECT user_id, currency, amount, payment_intent_id FROM ledger_entries WHERE refund_key = $1 AND kind = 'refund'",
        [key],
      );
      const refund = rows[0];
      if (!refund) return false;
      try {
        await run(sql, KEYED_ENTRY, [
          refund.user_id,
          refund.currency,
          "adjustment",
          -Number(refund.amount),
          refund.payment_intent_id,
          key,
          "refund not carried out by Stripe",
        ]);
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    async convergeRefund(paymentIntentId, refunded) {
      return transaction(sql.pool, async (client) => {
        const found = await query<Parameters<typeof toTopUp>[0]>(client, TOP_UP, [paymentIntentId]);
        if (!found[0]) return null;
        const { user_id: userId, currency } = found[0];
        const locked = await query<{ balance: string }>(
          client,
          "SELECT balance FROM ledger_balances WHERE user_id = $1 AND currency = $2 FOR UPDATE",
          [userId, currency],
        );
        const balance = Number(locked[0]?.balance ?? 0);
        const fresh = await query<Parameters<typeof toTopUp>[0]>(client, TOP_UP, [paymentIntentId]);
        const topUp = toTopUp(fresh[0] ?? found[0]);
        const missing = Math.min(refunded * MICROS_PER_MINOR_UNIT, topUp.amount) - topUp.refunded;
        if (missing <= 0) return { debited: 0, shortfall: 0 };
        const debited = Math.min(missing, balance);
        if (debited > 0) {
          try {
            await query(client, KEYED_ENTRY, [
              userId,
              currency,
              "refund",
              -debited,
              paymentIntentId,
              // Stripe's running total keys it: the same delivery again changes nothing.
              `stripe:${paymentIntentId}:${refunded}`,
              "refund made at Stripe",
            ]);
          } catch (error) {
            if (isUniqueViolation(error)) return { debited: 0, shortfall: 0 };
            throw error;
          }
        }
        return { debited, shortfall: missing - debited };
      });
    },

    async reconcile() {
      const rows = await run<{ user_id: string; currency: string; balance: string; sum: string }>(
        sql,
        `SELECT user_id, currency, b.balance, COALESCE(e.sum, 0) AS sum
         FROM ledger_balances b
         FULL JOIN (SELECT user_id, currency, sum(amount) AS sum FROM ledger_entries GROUP BY 1, 2) e
           USING (user_id, currency)
         WHERE COALESCE(b.balance, 0) <> COALESCE(e.sum, 0) OR b.balance < 0`,
        [],
      );
      return rows.map((row) => ({
        userId: row.user_id,
        currency: row.currency,
        balance: Number(row.balance ?? 0),
        sum: Number(row.sum),
      }));
    },
  };
}

/** Micros per minor unit (contracts' MICROS_PER_MINOR_UNIT). */
const MICROS_PER_MINOR_UNIT = 10_000;

function minOf(a: string | null, b: string | null): number | null {
  const values = [a, b].filter((value): value is string => value !== null).map(Number);
  return values.length === 0 ? null : Math.min(...values);
}

export interface LedgerDatabase {
  ledger: LedgerStore;
  /** What capped tokens (`spell:max_spend`) have spent: used in every billing mode. */
  tokenSpend: TokenSpendStore;
  /** Its own pool (the ledger and token spend; the rate limiter opens its own, asynchronous one). */
  pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * The ledger on a pool of its own: the prepaid adapter is composed before (and apart from) the main
 * database handle, and its reserve/settle statements never queue behind other work.
 */
export function openLedgerDatabase(options: { url: string; poolSize?: number }): LedgerDatabase {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
  });
  pool.on("error", () => {});
  let closed: Promise<void> | undefined;
  const sql = { pool, prepared: !isEmbeddedUrl(options.url) };
  return {
    ledger: createLedgerStore(sql),
    tokenSpend: createTokenSpendStore(sql),
    pool,
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}
