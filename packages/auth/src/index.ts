export {
  ASYMMETRIC_ALGORITHMS,
  MIN_SECRET_BYTES,
  parseTrustedIssuers,
  type TrustedIssuerConfig,
  ZTrustedIssuer,
} from "./config.ts";
export {
  ADMIN_SCOPE,
  AUTH_FAILURE_REASONS,
  type AuthFailureReason,
  createTokenVerifier,
  DEFAULT_AUDIENCE,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  type TokenVerifier,
  type TokenVerifierOptions,
  type VerifiedCaller,
} from "./verifier.ts";
