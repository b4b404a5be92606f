/**
 * A caller whose bearer token passed every check: what `@spell/auth` produces and the engine admits.
 * Declared here, below both, so neither depends on the other.
 */
export interface VerifiedCaller {
  /** The token's `sub`. */
  userId: string;
  issuer: string;
  /** True only for an admin-capable issuer whose token's `scope` contains `spell:admin`. */
  isAdmin: boolean;
  scopes: string[];
}
