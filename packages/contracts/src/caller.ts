/**
 * A per-token spend cap: the verified `spell:max_spend` claim (packages/auth/src/max-spend.ts).
 * The total this one token may spend over its lifetime, whatever the billing mode.
 */
export interface TokenSpendCap {
  /** Minor units of `currency`, ≥ 0; fractions count in prepaid mode (resolution: 1/10000 minor unit). */
  amount: number;
  /** Lower-case ISO 4217 code: a spell priced in another currency is refused for this token. */
  currency: string;
  /**
   * What the spend is counted under: `jti:<sha256 of issuer, subject and jti>` when the token has a
   * `jti`, else `tok:<sha256 of the token>`. A re-issued token with the same `jti` shares the spend.
   */
  key: string;
  /** The token's `exp` (ISO 8601): the cap never resets before the token dies, so no reset time. */
  expiresAt: string | null;
}

/**
 * A caller whose bearer token passed every check: what `@spell/auth` produces and the engine admits.
 * Declared here, below both, so neither depends on the other.
 */
export interface VerifiedCaller {
  /**
   * The user: the token's `sub` within its issuer's namespace (`namespace|sub`, or the bare `sub` in
   * the empty namespace) — never the `sub` alone, so no issuer can name another issuer's users.
   */
  userId: string;
  /** The token's `sub`, as the issuer wrote it. */
  subject: string;
  issuer: string;
  /** True only for an admin-capable issuer whose token's `scope` contains `spell:admin`. */
  isAdmin: boolean;
  scopes: string[];
  /** The token's `spell:max_spend` claim, when it has one (absent: no per-token cap). */
  maxSpend?: TokenSpendCap | undefined;
}
