import { isUuid, run, type Sql } from "../sql.ts";

export interface TokenSpendReserve {
  /** The token's spend key (`TokenSpendCap.key`, with the currency). */
  tokenKey: string;
  userId: string;
  currency: string;
  /** Micros the token may spend in all (the claim of the token presented now). */
  cap: number;
  /** Micros this charge adds, > 0. */
  amount: number;
  executionId: string;
  expiresAt: string | null;
}

export type TokenSpendResult = { kind: "reserved"; spent: number } | { kind: "limit"; spent: number };

/**
 * What each capped token (`spell:max_spend`) has spent, over `token_spend` and one
 * `token_spend_charges` row per execution it paid for. Every change is one statement.
 */
export interface TokenSpendStore {
  /**
   * Adds `amount` to the token's spend only if it stays within `cap` (a conditional upsert: the row
   * lock serializes concurrent charges of one token, in any process). A second reserve for the same
   * execution answers the first.
   */
  reserve(request: TokenSpendReserve): Promise<TokenSpendResult>;
  /** Names the charge an execution's reserve paid for (settlement only knows the charge). */
  attach(executionId: string, chargeId: string): Promise<void>;
  /** Gives an execution's (or a charge's) amount back to its token, once; false when nothing was held. */
  release(by: { executionId: string } | { chargeId: string }): Promise<boolean>;
  /** Micros the token has spent (0 when it never did). */
  spent(tokenKey: string): Promise<number>;
}

const RESERVE = `WITH spend AS (
    INSERT INTO token_spend (token_key, user_id, currency, cap, spent, expires_at)
    SELECT $1, $2, $3, $4::bigint, $5::bigint, $7::timestamptz WHERE $5::bigint <= $4::bigint
    ON CONFLICT (token_key) DO UPDATE SET spent = token_spend.spent + EXCLUDED.spent,
      cap = EXCLUDED.cap, updated_at = now()
    WHERE token_spend.spent + EXCLUDED.spent <= EXCLUDED.cap
    RETURNING spent
  ),
  charge AS (
    INSERT INTO token_spend_charges (execution_id, token_key, amount)
    SELECT $6::uuid, $1, $5::bigint FROM spend
  )
  SELECT spent FROM spend`;

const RELEASE = `WITH charge AS (
    UPDATE token_spend_charges SET released_at = now()
    WHERE released_at IS NULL AND (execution_id = $1::uuid OR charge_id = $2)
    RETURNING token_key, amount
  )
  UPDATE token_spend t SET spent = t.spent - c.amount, updated_at = now()
  FROM charge c WHERE t.token_key = c.token_key
  RETURNING t.spent`;

export function createTokenSpendStore(sql: Sql): TokenSpendStore {
  async function spent(tokenKey: string): Promise<number> {
    const rows = await run<{ spent: string }>(
      sql,
      "SELECT spent FROM token_spend WHERE token_key = $1",
      [tokenKey],
      "token_spend_read",
    );
    return Number(rows[0]?.spent ?? 0);
  }

  return {
    async reserve(request) {
      const values = [
        request.tokenKey,
        request.userId,
        request.currency,
        request.cap,
        request.amount,
        request.executionId,
        request.expiresAt,
      ];
      try {
        const rows = await run<{ spent: string }>(sql, RESERVE, values, "token_spend_reserve");
        if (rows[0]) return { kind: "reserved", spent: Number(rows[0].spent) };
      } catch (error) {
        // The same execution reserved before (a retry): the whole statement failed. The first stands
        // only while it still holds its share on this token: a released one was given back.
        if ((error as { code?: unknown } | null)?.code !== "23505") throw error;
      }
      // Refused, unless this execution already holds its share (a retry once the cap is full).
      const held = await run(
        sql,
        `SELECT 1 FROM token_spend_charges
         WHERE execution_id = $1::uuid AND token_key = $2 AND released_at IS NULL`,
        [request.executionId, request.tokenKey],
      );
      return { kind: held.length > 0 ? "reserved" : "limit", spent: await spent(request.tokenKey) };
    },
    async attach(executionId, chargeId) {
      if (!isUuid(executionId)) return;
      await run(
        sql,
        "UPDATE token_spend_charges SET charge_id = $2 WHERE execution_id = $1::uuid",
        [executionId, chargeId],
        "token_spend_attach",
      );
    },
    async release(by) {
      const executionId = "executionId" in by && isUuid(by.executionId) ? by.executionId : null;
      const chargeId = "chargeId" in by ? by.chargeId : null;
      if (executionId === null && chargeId === null) return false;
      const rows = await run(sql, RELEASE, [executionId, chargeId], "token_spend_release");
      return rows.length > 0;
    },
    spent,
  };
}
