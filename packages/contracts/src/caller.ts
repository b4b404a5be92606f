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
}
