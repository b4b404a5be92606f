import type { ErrorCode, ExecutionStatus, MeOutput, RuntimeKind } from "@spell/contracts";
import type { UserRecord, UserStore } from "@spell/engine";
import { run, type Sql } from "../sql.ts";
import { SPELL_COLUMNS, type SpellRow, toSpellRecord } from "./spells.ts";

/**
 * One round trip for execute: the user and, through a join that only matches active users, the spell.
 * A banned user's query never reads a spell row: the ban decides before the spell is touched.
 */
const USER_WITH_SPELL = `SELECT u.status AS user_status, u.stripe_customer_id AS user_stripe_customer_id,
    u.default_payment_method_id AS user_default_payment_method_id, u.created_at AS user_created_at,
    ${SPELL_COLUMNS}, tm.user_id IS NOT NULL AS caller_is_team_member
  FROM users u
  LEFT JOIN spells s ON s.slug = $2 AND u.status = 'active'
  LEFT JOIN artifacts a ON a.id = s.current_artifact_id
  LEFT JOIN team_members tm ON tm.team_id = s.team_id AND tm.user_id = u.id
  WHERE u.id = $1`;

type UserWithSpellRow = {
  user_status: "active" | "banned";
  user_stripe_customer_id: string | null;
  /** Carried to the card adapter so a priced execute does not read the user a second time. */
  user_default_payment_method_id: string | null;
  user_created_at: Date;
  caller_is_team_member: boolean;
} & { [K in keyof SpellRow]: SpellRow[K] | null };

interface UserRow {
  id: string;
  status: "active" | "banned";
  stripe_customer_id: string | null;
  has_payment_method: boolean;
  created_at: Date;
}

const USER_COLUMNS =
  "id, status, stripe_customer_id, default_payment_method_id IS NOT NULL AS has_payment_method, created_at";

export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    status: row.status,
    stripeCustomerId: row.stripe_customer_id,
    hasPaymentMethod: row.has_payment_method,
    createdAt: row.created_at,
  };
}

export async function findUser(sql: Sql, userId: string): Promise<UserRecord | null> {
  const rows = await run<UserRow>(
    sql,
    `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`,
    [userId],
    "users_find",
  );
  return rows[0] ? toUserRecord(rows[0]) : null;
}

/** The Postgres user store; its `describe` also takes the user record a request already read. */
export type UserRepository = Omit<UserStore, "describe"> & {
  describe(userOrId: string | UserRecord, recentLimit: number): ReturnType<UserStore["describe"]>;
};

export function createUserStore(sql: Sql): UserRepository {
  async function ensureUser(userId: string): Promise<UserRecord> {
    // Every request after a user's first is this one indexed read.
    const existing = await findUser(sql, userId);
    if (existing) return existing;
    // Concurrent first requests all insert; the losers' DO NOTHING waits for the winner's commit, so
    // the re-read below always finds the row.
    await run(
      sql,
      "INSERT INTO users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
      [userId],
      "users_insert",
    );
    const created = await findUser(sql, userId);
    if (!created) throw new Error(`user ${userId} vanished right after being created`);
    return created;
  }

  async function readUserWithSpell(userId: string, slug: string) {
    const rows = await run<UserWithSpellRow>(sql, USER_WITH_SPELL, [userId, slug], "users_with_spell");
    const row = rows[0];
    if (!row) return null;
    const user: UserRecord = {
      id: userId,
      status: row.user_status,
      stripeCustomerId: row.user_stripe_customer_id,
      hasPaymentMethod: row.user_default_payment_method_id !== null,
      defaultPaymentMethodId: row.user_default_payment_method_id,
      createdAt: row.user_created_at,
    };
    const lookup =
      row.id === null || row.artifact_id === null
        ? null
        : { spell: toSpellRecord(row as SpellRow), callerIsTeamMember: row.caller_is_team_member };
    return { user, lookup };
  }

  return {
    ensureUser,
    async ensureUserWithSpell(userId, slug) {
      const found = await readUserWithSpell(userId, slug);
      if (found) return found;
      await ensureUser(userId);
      const created = await readUserWithSpell(userId, slug);
      if (!created) throw new Error(`user ${userId} vanished right after being created`);
      return created;
    },
    /**
     * The user's usage for `GET /api/me`. Given the user record the request already read (the
     * session's, read by authenticate this request), the user is not read again: one read per `me`.
     */
    async describe(userOrId: string | UserRecord, recentLimit: number) {
      const user = typeof userOrId === "string" ? await ensureUser(userOrId) : userOrId;
      const userId = user.id;
      const [totals, charged, recent] = await Promise.all([
        run<{ total: number }>(sql, "SELECT count(*)::int AS total FROM executions WHERE user_id = $1", [
          userId,
        ]),
        run<{ currency: string; amount: number }>(
          sql,
          `SELECT currency, sum(amount)::int AS amount FROM billing_records
           WHERE user_id = $1 AND status = 'succeeded' GROUP BY currency ORDER BY currency`,
          [userId],
        ),
        run<RecentRow>(
          sql,
          `SELECT id, slug, runtime, status, error_code, amount, currency, duration_ms, created_at
           FROM executions WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [userId, Math.max(0, Math.trunc(recentLimit))],
        ),
      ]);
      const usage: MeOutput["usage"] = {
        totalExecutions: totals[0]?.total ?? 0,
        totalCharged: charged.map((row) => ({ currency: row.currency, amount: row.amount })),
        recent: recent.map((row) => ({
          executionId: row.id,
          slug: row.slug,
          runtime: row.runtime,
          status: row.status,
          errorCode: row.error_code,
          amount: row.amount,
          currency: row.currency,
          durationMs: row.duration_ms,
          createdAt: row.created_at.toISOString(),
        })),
      };
      return { user, usage };
    },
  };
}

interface RecentRow {
  id: string;
  slug: string;
  runtime: RuntimeKind;
  status: ExecutionStatus;
  error_code: ErrorCode | null;
  amount: number;
  currency: string;
  duration_ms: number | null;
  created_at: Date;
}
