import type { ExecutionStatus, RuntimeKind } from "@spell/contracts";
import type {
  AuthorScope,
  AuthorStore,
  RunDetailRecord,
  RunRecord,
  SpellRecord,
  StoredOutcome,
} from "@spell/engine";
import type { PoolClient } from "pg";
import { isUuid, query, run, type Sql, transaction } from "../sql.ts";
import { SPELL_COLUMNS, type SpellRow, toSpellRecord } from "./spells.ts";

// Authors' management and views (issue 12). The engine decides who may; these statements only
// express its `AuthorScope` as a filter. Nothing here is on the execute path.

const SPELL_BY_ID = `SELECT ${SPELL_COLUMNS}
  FROM spells s JOIN artifacts a ON a.id = s.current_artifact_id WHERE s.id = $1`;

async function spellById(client: Sql | PoolClient, spellId: string): Promise<SpellRecord> {
  const rows = isSql(client)
    ? await run<SpellRow>(client, SPELL_BY_ID, [spellId])
    : await query<SpellRow>(client, SPELL_BY_ID, [spellId]);
  const row = rows[0];
  if (!row) throw new Error(`spell ${spellId} vanished`);
  return toSpellRecord(row);
}

function isSql(client: Sql | PoolClient): client is Sql {
  return "prepared" in client && "pool" in client;
}

/** The spells a scope covers, as a condition on `s` with the scope's three parameters at `$n…$n+2`. */
function scopeCondition(first: number): string {
  return `($${first}::boolean OR s.created_by = $${first + 1} OR ($${first + 2}::boolean AND s.team_id IS NOT NULL
    AND EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = s.team_id AND tm.user_id = $${first + 1})))`;
}
const scopeValues = (scope: AuthorScope) => [scope.all, scope.userId, scope.teams];

interface RunRow {
  id: string;
  spell_id: string;
  slug: string;
  runtime: RuntimeKind;
  artifact_id: string | null;
  status: ExecutionStatus;
  error_code: string | null;
  duration_ms: number | null;
  user_id: string;
  share_id_with_authors: boolean | null;
  amount: number;
  currency: string;
  charged: boolean;
  created_at: Date;
  finished_at: Date | null;
}

const RUN_COLUMNS = `e.id, e.spell_id, e.slug, e.runtime, e.artifact_id, e.status, e.error_code, e.duration_ms,
  e.user_id, u.share_id_with_authors, e.amount, e.currency, coalesce(br.status = 'succeeded', false) AS charged,
  e.created_at, e.finished_at`;
const RUN_JOINS = `JOIN spells s ON s.id = e.spell_id
  LEFT JOIN users u ON u.id = e.user_id
  LEFT JOIN billing_records br ON br.execution_id = e.id`;

function toRun(row: RunRow): RunRecord {
  return {
    executionId: row.id,
    spellId: row.spell_id,
    slug: row.slug,
    runtime: row.runtime,
    artifactId: row.artifact_id,
    status: row.status,
    errorCode: row.error_code,
    durationMs: row.duration_ms,
    callerId: row.user_id,
    callerShares: row.share_id_with_authors === true,
    price: { amount: row.amount, currency: row.currency },
    charged: row.charged,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

/** The optional filters of runs and stats, appended after the scope's parameters. */
function filters(
  values: unknown[],
  options: {
    spellId?: string | undefined;
    status?: string | undefined;
    from?: Date | undefined;
    to?: Date | undefined;
  },
): string {
  const conditions: string[] = [];
  const add = (condition: (n: number) => string, value: unknown) => {
    values.push(value);
    conditions.push(condition(values.length));
  };
  if (options.spellId !== undefined) add((n) => `e.spell_id = $${n}`, options.spellId);
  if (options.status !== undefined) add((n) => `e.status = $${n}`, options.status);
  if (options.from !== undefined) add((n) => `e.created_at >= $${n}`, options.from);
  if (options.to !== undefined) add((n) => `e.created_at < $${n}`, options.to);
  return conditions.map((condition) => ` AND ${condition}`).join("");
}

export function createAuthorStore(sql: Sql): AuthorStore {
  return {
    async isTeamMember(teamId, userId) {
      const rows = await run(sql, "SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2", [
        teamId,
        userId,
      ]);
      return rows.length > 0;
    },

    async update(spellId, update) {
      return transaction(sql.pool, async (client) => {
        const sets: string[] = [];
        const values: unknown[] = [spellId];
        const set = (column: string, value: unknown) => {
          values.push(value);
          sets.push(`${column} = $${values.length}`);
        };
        if (update.visibility !== undefined) set("visibility", update.visibility);
        if (update.teamId !== undefined) set("team_id", update.teamId);
        if (update.price !== undefined) {
          set("price_amount", update.price.amount);
          set("currency", update.price.currency);
        }
        if (sets.length > 0) {
          await query(
            client,
            `UPDATE spells SET ${sets.join(", ")}, updated_at = now() WHERE id = $1`,
            values,
          );
        }
        if (update.metadata !== undefined) {
          // Artifacts are immutable (their id keys compiled validators): new metadata is a new
          // version of the same bytes, made current in the same transaction.
          const [copy] = await query<{ id: string }>(
            client,
            `INSERT INTO artifacts (spell_id, builtin, api_endpoint, wasm_binary, wasm_sha256, metadata, created_by)
             SELECT a.spell_id, a.builtin, a.api_endpoint, a.wasm_binary, a.wasm_sha256, $2::jsonb, $3
             FROM spells s JOIN artifacts a ON a.id = s.current_artifact_id WHERE s.id = $1
             RETURNING id`,
            [spellId, JSON.stringify(update.metadata), update.updatedBy],
          );
          if (!copy) throw new Error(`spell ${spellId} has no current artifact`);
          await query(
            client,
            "UPDATE spells SET current_artifact_id = $2, updated_at = now() WHERE id = $1",
            [spellId, copy.id],
          );
        }
        return spellById(client, spellId);
      });
    },

    async listVersions(spellId) {
      const rows = await run<{
        id: string;
        builtin: string | null;
        api_endpoint: string | null;
        wasm_sha256: string | null;
        sha256: string;
        created_by: string | null;
        created_at: Date;
      }>(
        sql,
        `SELECT id, builtin, api_endpoint, wasm_sha256, created_by, created_at,
           coalesce(wasm_sha256, encode(sha256(convert_to(coalesce(builtin, api_endpoint, ''), 'UTF8')), 'hex')) AS sha256
         FROM artifacts WHERE spell_id = $1 ORDER BY created_at, id`,
        [spellId],
      );
      return rows.map((row) => ({
        artifactId: row.id,
        runtime: row.wasm_sha256 !== null ? "wasm" : row.api_endpoint !== null ? "api" : "builtin",
        sha256: row.sha256,
        createdBy: row.created_by,
        createdAt: row.created_at,
      }));
    },

    async rollback(spellId, artifactId) {
      if (!isUuid(artifactId)) return null;
      // One statement: the next read, in any process, sees the earlier version (nothing is cached).
      const rows = await run(
        sql,
        `UPDATE spells SET current_artifact_id = $2, updated_at = now()
         WHERE id = $1 AND EXISTS (SELECT 1 FROM artifacts WHERE id = $2 AND spell_id = $1)
         RETURNING id`,
        [spellId, artifactId],
      );
      return rows.length === 0 ? null : spellById(sql, spellId);
    },

    async setDisabled(spellId, disabled) {
      await run(
        sql,
        `UPDATE spells SET disabled_at = CASE WHEN $2::boolean THEN coalesce(disabled_at, now()) END,
           updated_at = now() WHERE id = $1`,
        [spellId, disabled],
      );
      return spellById(sql, spellId);
    },

    async listRuns(request) {
      const values: unknown[] = scopeValues(request.scope);
      let where = scopeCondition(1) + filters(values, request);
      if (request.before !== undefined) {
        values.push(request.before.createdAt, request.before.id);
        where += ` AND (e.created_at, e.id) < ($${values.length - 1}, $${values.length}::uuid)`;
      }
      values.push(request.limit);
      const rows = await run<RunRow>(
        sql,
        `SELECT ${RUN_COLUMNS} FROM executions e ${RUN_JOINS}
         WHERE ${where} ORDER BY e.created_at DESC, e.id DESC LIMIT $${values.length}`,
        values,
      );
      return rows.map(toRun);
    },

    async getRun(executionId, callerId) {
      if (!isUuid(executionId)) return null;
      const rows = await run<
        RunRow & {
          log: string | null;
          outcome: StoredOutcome | null;
          spell_created_by: string;
          spell_team_id: string | null;
          caller_is_team_member: boolean;
        }
      >(
        sql,
        `SELECT ${RUN_COLUMNS}, e.log, e.outcome, s.created_by AS spell_created_by, s.team_id AS spell_team_id,
           EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = s.team_id AND tm.user_id = $2)
             AS caller_is_team_member
         FROM executions e ${RUN_JOINS} WHERE e.id = $1`,
        [executionId, callerId],
      );
      const row = rows[0];
      if (!row) return null;
      const detail: RunDetailRecord = {
        ...toRun(row),
        log: row.log,
        outcome: row.outcome,
        spellCreatedBy: row.spell_created_by,
        spellTeamId: row.spell_team_id,
        callerIsTeamMember: row.caller_is_team_member,
      };
      return detail;
    },

    async stats(request) {
      const values: unknown[] = [...scopeValues(request.scope), request.period];
      const where = scopeCondition(1) + filters(values, request);
      const bucket = "date_trunc($4, e.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
      const [counts, revenue] = await Promise.all([
        run<{ slug: string; period_start: Date; runs: number; succeeded: number; failed: number }>(
          sql,
          `SELECT s.slug, ${bucket} AS period_start, count(*)::int AS runs,
             count(*) FILTER (WHERE e.status = 'succeeded')::int AS succeeded,
             count(*) FILTER (WHERE e.status = 'failed')::int AS failed
           FROM executions e JOIN spells s ON s.id = e.spell_id
           WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`,
          values,
        ),
        run<{ slug: string; period_start: Date; currency: string; amount: number }>(
          sql,
          `SELECT s.slug, ${bucket} AS period_start, br.currency, sum(br.amount)::int AS amount
           FROM executions e JOIN spells s ON s.id = e.spell_id
           JOIN billing_records br ON br.execution_id = e.id AND br.status = 'succeeded'
           WHERE ${where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
          values,
        ),
      ]);
      return counts.map((row) => ({
        slug: row.slug,
        periodStart: row.period_start,
        runs: row.runs,
        succeeded: row.succeeded,
        failed: row.failed,
        revenue: revenue
          .filter((r) => r.slug === row.slug && r.period_start.getTime() === row.period_start.getTime())
          .map((r) => ({ amount: r.amount, currency: r.currency })),
      }));
    },

    async setShareIdentity(userId, share) {
      await run(
        sql,
        `INSERT INTO users (id, share_id_with_authors) VALUES ($1, $2)
         ON CONFLICT (id) DO UPDATE SET share_id_with_authors = EXCLUDED.share_id_with_authors, updated_at = now()`,
        [userId, share],
      );
    },
  };
}
