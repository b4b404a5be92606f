/** What `verify` answers; declared in contracts so the engine can take it without depending on auth. */
export type { VerifiedCaller } from "@spell/contracts";
export {
  ASYMMETRIC_ALGORITHMS,
  MIN_SECRET_BYTES,
  parseTrustedIssuers,
  type TrustedIssuerConfig,
  ZTrustedIssuer,
} from "./config.ts";
export {
  MAX_SUBJECT_LENGTH,
  NAMESPACE_SEPARATOR,
  namespaceOf,
  subjectProblem,
  userIdOf,
} from "./identity.ts";
export {
  ADMIN_SCOPE,
  AUTH_FAILURE_REASONS,
  type AuthFailureReason,
  createTokenVerifier,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "./verifier.ts";
