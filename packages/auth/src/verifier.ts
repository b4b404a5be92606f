import {
  constants,
  createPublicKey,
  verify as cryptoVerify,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { AppError, type VerifiedCaller } from "@spell/contracts";
import {
  base64url,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  UnsecuredJWT,
} from "jose";
import {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  assertUniqueIssuers,
  type TrustedIssuerConfig,
} from "./config.ts";
import { namespaceOf, subjectProblem, userIdOf } from "./identity.ts";
import { parseMaxSpend } from "./max-spend.ts";

export const DEFAULT_AUDIENCE = "spell";
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
/** The scope that makes a caller an admin, honoured only from issuers configured with `admin: true`. */
export const ADMIN_SCOPE = "spell:admin";

export const AUTH_FAILURE_REASONS = [
  "missing_token",
  "malformed_token",
  "unknown_issuer",
  "algorithm_not_allowed",
  "bad_signature",
  "expired",
  "not_yet_valid",
  "wrong_audience",
  "missing_sub",
  "invalid_sub",
  "jwks_unavailable",
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

const MESSAGES: Record<AuthFailureReason, string> = {
  missing_token: "Missing bearer token",
  malformed_token: "Malformed bearer token",
  unknown_issuer: "Token issuer is not trusted",
  algorithm_not_allowed: "Token algorithm is not allowed for its issuer",
  bad_signature: "Token signature is invalid",
  expired: "Token has expired",
  not_yet_valid: "Token is not yet valid",
  wrong_audience: "Token audience does not match",
  missing_sub: "Token has no subject",
  invalid_sub: "Token subject cannot name a user",
  jwks_unavailable: "Issuer signing keys are unavailable",
};

function unauthorized(reason: AuthFailureReason, cause?: unknown): AppError {
  // The cause is kept only for key-fetch failures: jose's claim errors carry the decoded payload.
  return new AppError(
    "UNAUTHORIZED",
    MESSAGES[reason],
    { reason },
    cause === undefined ? undefined : { cause },
  );
}

export interface TokenVerifier {
  /** Verifies a raw `Authorization` header value; throws `AppError("UNAUTHORIZED", …, { reason })`. */
  verify(authorization: string | undefined): Promise<VerifiedCaller>;
}

export interface TokenVerifierOptions {
  issuers: TrustedIssuerConfig[];
  /** Expected `aud`; defaults to `spell`. */
  audience?: string;
  /** Allowed clock skew for `exp` and `nbf`; defaults to 30 s. */
  clockToleranceSec?: number;
  /** Fetch used for `jwksUri` issuers (tests inject one); defaults to the global fetch. */
  fetch?: typeof fetch;
  /**
   * Verified tokens remembered, so a client sending the same token again skips the signature check
   * (the bulk of a request's CPU). Default 10 000; 0 turns the cache off.
   */
  cacheSize?: number;
  /** How long a verified token is remembered at most (it is never used past its `exp`). Default 60 s. */
  cacheTtlMs?: number;
}

interface CachedCaller {
  caller: VerifiedCaller;
  /** The earlier of `exp` (plus the skew allowance) and the cache TTL. */
  validUntilMs: number;
}

interface IssuerVerifier {
  admin: boolean;
  /** The namespace its subjects are users of (identity.ts). */
  namespace: string;
  remote: boolean;
  /** Throws jose's error classes (mapped by `reasonFor`), from jose itself or from `verifyLocal`. */
  verify(token: string): Promise<JWTPayload> | JWTPayload;
}

const RSA_ALGORITHMS: AsymmetricAlgorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const EC_ALGORITHM_BY_CURVE: Record<string, AsymmetricAlgorithm> = {
  "P-256": "ES256",
  "P-384": "ES384",
  "P-521": "ES512",
};
const NODE_CURVE_BY_ALGORITHM: Partial<Record<AsymmetricAlgorithm, string>> = {
  ES256: "prime256v1",
  ES384: "secp384r1",
  ES512: "secp521r1",
};

/** A cheap guard against oversized headers; real JWTs are far below this. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const BEARER = /^Bearer +([^\s]+) *$/i;

/** The algorithms a JWK may verify: its own `alg` if it pins one, else its key type's family. */
function algorithmsForJwk(jwk: { kty: string; alg?: string | undefined; crv?: string | undefined }) {
  if (jwk.alg !== undefined) return [jwk.alg as AsymmetricAlgorithm];
  if (jwk.kty === "RSA") return RSA_ALGORITHMS;
  if (jwk.kty === "EC") {
    const alg = jwk.crv === undefined ? undefined : EC_ALGORITHM_BY_CURVE[jwk.crv];
    return alg === undefined ? [] : [alg];
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return ["EdDSA", "Ed25519"] as AsymmetricAlgorithm[];
  return [];
}

/** Fails at construction, naming the issuer, when a PEM key's type does not fit its pinned `alg`. */
function checkPemKey(issuer: string, key: KeyObject, alg: AsymmetricAlgorithm): void {
  const type = key.asymmetricKeyType;
  const fits = alg.startsWith("RS")
    ? type === "rsa"
    : alg.startsWith("PS")
      ? type === "rsa" || type === "rsa-pss"
      : alg.startsWith("ES")
        ? type === "ec" && key.asymmetricKeyDetails?.namedCurve === NODE_CURVE_BY_ALGORITHM[alg]
        : type === "ed25519";
  if (!fits) throw new Error(`trusted issuer "${issuer}": publicKeyPem is not a key for ${alg}`);
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== undefined && bits < 2048) {
    throw new Error(`trusted issuer "${issuer}": RSA keys must be at least 2048 bits`);
  }
}

// ---- local asymmetric keys: node:crypto instead of WebCrypto -------------------------------------
//
// jose verifies through WebCrypto (`crypto.subtle.verify`), about twice the cost of node:crypto's
// one-shot `verify` with a KeyObject imported once (ES256: ~140 µs against ~70 µs here), which is
// most of a request whose token is not cached. For keys configured locally (a PEM or a JWKS), the
// compact JWS checks are done here the way jose does them, in jose's order, throwing jose's own
// error classes; the claims (iss, aud, exp/nbf/iat with the clock tolerance, required claims) stay
// jose's: the verified payload segment is handed to `UnsecuredJWT.decode`, which runs the same
// `validateClaimsSet` as `jwtVerify`. Secret (HS256) and remote (jwksUri) issuers keep `jwtVerify`.

interface AlgorithmEntry {
  kty: "RSA" | "EC" | "OKP";
  /** The JWK curve the algorithm requires (EC, OKP). */
  crv?: string;
  /** node:crypto digest; null for Ed25519. */
  hash: string | null;
  pss?: boolean;
  ecdsa?: boolean;
  /** RSA keys under this size are refused at verification, as jose does. */
  minRsaBits?: number;
}

const ALGORITHMS: Record<AsymmetricAlgorithm, AlgorithmEntry> = {
  RS256: { kty: "RSA", hash: "sha256", minRsaBits: 2048 },
  RS384: { kty: "RSA", hash: "sha384", minRsaBits: 2048 },
  RS512: { kty: "RSA", hash: "sha512", minRsaBits: 2048 },
  PS256: { kty: "RSA", hash: "sha256", pss: true, minRsaBits: 2048 },
  PS384: { kty: "RSA", hash: "sha384", pss: true, minRsaBits: 2048 },
  PS512: { kty: "RSA", hash: "sha512", pss: true, minRsaBits: 2048 },
  ES256: { kty: "EC", crv: "P-256", hash: "sha256", ecdsa: true },
  ES384: { kty: "EC", crv: "P-384", hash: "sha384", ecdsa: true },
  ES512: { kty: "EC", crv: "P-521", hash: "sha512", ecdsa: true },
  EdDSA: { kty: "OKP", crv: "Ed25519", hash: null },
  Ed25519: { kty: "OKP", crv: "Ed25519", hash: null },
};

interface LocalKey {
  key: KeyObject;
  /** The JWK's members jose's `isUsableJWK` looks at; null for a PEM key (used whatever the kid). */
  jwk: {
    kty: string;
    kid?: unknown;
    alg?: unknown;
    use?: unknown;
    crv?: unknown;
    ext?: unknown;
    key_ops?: unknown;
  } | null;
}

/** jose's `isUsableJWK` (jwks/local.js), for one candidate key of a local key set. */
function usableJwk(jwk: NonNullable<LocalKey["jwk"]>, entry: AlgorithmEntry, alg: string, kid: unknown) {
  const keyOps = jwk.key_ops;
  return (
    (jwk.ext === undefined || typeof jwk.ext === "boolean") &&
    (keyOps === undefined ||
      (Array.isArray(keyOps) &&
        keyOps.every((op, index) => typeof op === "string" && keyOps.indexOf(op) === index) &&
        keyOps.includes("verify"))) &&
    entry.kty === jwk.kty &&
    (kid === undefined || (typeof kid === "string" && kid === jwk.kid)) &&
    (jwk.alg === undefined || alg === jwk.alg) &&
    (jwk.use === undefined || jwk.use === "sig") &&
    (entry.crv === undefined || jwk.crv === entry.crv)
  );
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** The header `UnsecuredJWT.decode` wants in front of the (already verified) payload segment. */
const UNSECURED_HEADER = base64url.encode('{"alg":"none"}');
const NON_ASCII = /[^\p{ASCII}]/u;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** jose's base64url decoding (strict alphabet), failing as jose fails: `JWSInvalid`. */
function decodeSegment(segment: string, label: string): Uint8Array {
  try {
    return base64url.decode(segment);
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause });
  }
}

/**
 * `jwtVerify(token, key, { algorithms, ...claims })` for local keys, check for check: compact
 * form, protected header (JSON object, `crit` only `b64`, which must then be true), `alg` in the
 * allow-list, one usable key (kid, kty, curve, JWK alg/use/key_ops as jose picks them), RSA size,
 * signature, then jose's claims validation. The signature is checked on libuv's thread pool (the
 * callback form of `crypto.verify`), as WebCrypto does for jose: ~100 µs of ES256 off the event
 * loop, which keeps serving other requests meanwhile.
 */
async function verifyLocal(
  token: string,
  keys: LocalKey[],
  algorithms: ReadonlySet<string>,
  claims: Pick<JWTVerifyOptions, "issuer" | "audience" | "clockTolerance" | "requiredClaims">,
): Promise<JWTPayload> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new errors.JWSInvalid("Invalid Compact JWS");
  const [encodedHeader = "", encodedPayload = "", encodedSignature = ""] = parts;
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(base64url.decode(encodedHeader)));
  } catch (cause) {
    throw new errors.JWSInvalid("JWS Protected Header is invalid", { cause });
  }
  if (!isPlainObject(header)) throw new errors.JWSInvalid("JWS Protected Header is invalid");
  let b64 = true;
  if (header.crit !== undefined) {
    const crit = header.crit;
    if (
      !Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((member) => typeof member !== "string" || member.length === 0)
    ) {
      throw new errors.JWSInvalid('"crit" (Critical) Header Parameter MUST be an array of non-empty strings');
    }
    for (const parameter of crit as string[]) {
      if (parameter !== "b64") {
        throw new errors.JOSENotSupported(`Extension Header Parameter "${parameter}" is not recognized`);
      }
      if (header.b64 === undefined)
        throw new errors.JWSInvalid('Extension Header Parameter "b64" is missing');
    }
    if (typeof header.b64 !== "boolean") {
      throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
    }
    b64 = header.b64;
  }
  const alg = header.alg;
  if (typeof alg !== "string" || alg === "") {
    throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  }
  if (!algorithms.has(alg)) {
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  }
  const entry = ALGORITHMS[alg as AsymmetricAlgorithm];
  if (entry === undefined) throw new errors.JOSENotSupported('Unsupported "alg" value');
  let key: KeyObject;
  if (keys.length === 1 && keys[0]?.jwk === null) {
    key = keys[0].key;
  } else {
    const candidates = keys.filter((k) => k.jwk !== null && usableJwk(k.jwk, entry, alg, header.kid));
    if (candidates.length === 0) throw new errors.JWKSNoMatchingKey();
    if (candidates.length > 1) throw new errors.JWKSMultipleMatchingKeys();
    key = (candidates[0] as LocalKey).key;
  }
  if (NON_ASCII.test(encodedPayload)) {
    throw new errors.JWSInvalid("JWS Compact Serialization payload must use only ASCII characters");
  }
  const signature = decodeSegment(encodedSignature, "signature");
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (entry.minRsaBits !== undefined && (bits === undefined || bits < entry.minRsaBits)) {
    throw new TypeError(`${alg} requires key modulusLength to be ${entry.minRsaBits} bits or larger`);
  }
  const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`, "latin1");
  let verified = false;
  try {
    verified = await new Promise<boolean>((resolve, reject) =>
      cryptoVerify(
        entry.hash,
        signingInput,
        entry.pss
          ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : entry.ecdsa
            ? { key, dsaEncoding: "ieee-p1363" }
            : key,
        signature,
        (error, result) => (error ? reject(error) : resolve(result)),
      ),
    );
  } catch (cause) {
    throw new errors.JWSSignatureVerificationFailed(undefined, { cause });
  }
  if (!verified) throw new errors.JWSSignatureVerificationFailed();
  if (!b64) throw new errors.JWTInvalid("JWTs MUST NOT use unencoded payload");
  // The payload segment is now known to be the issuer's; an undecodable one is jose's JWTInvalid.
  return UnsecuredJWT.decode(`${UNSECURED_HEADER}.${encodedPayload}.`, claims).payload;
}

/** A JWKS member as a KeyObject, or null when jose would not use it as a public key either. */
function localKeyOf(jwk: TrustedJwk): LocalKey | null {
  // A private member: jose refuses such a key set member at verification ("must be public keys").
  if ("d" in jwk || "k" in jwk) return null;
  return { key: createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }), jwk };
}

type TrustedJwk = Extract<TrustedIssuerConfig, { jwks: unknown }>["jwks"]["keys"][number];

function buildIssuer(
  config: TrustedIssuerConfig,
  base: Pick<JWTVerifyOptions, "audience" | "clockTolerance" | "requiredClaims">,
  fetchImpl: typeof fetch | undefined,
): Omit<IssuerVerifier, "namespace"> {
  const admin = config.admin === true;
  const name = config.issuer;

  if ("secret" in config) {
    const secret = new TextEncoder().encode(config.secret);
    const options = { ...base, issuer: name, algorithms: ["HS256"] };
    return { admin, remote: false, verify: async (t) => (await jwtVerify(t, secret, options)).payload };
  }

  if ("publicKeyPem" in config) {
    let key: KeyObject;
    try {
      key = createPublicKey(config.publicKeyPem);
    } catch {
      throw new Error(`trusted issuer "${name}": publicKeyPem cannot be parsed`);
    }
    checkPemKey(name, key, config.alg);
    const keys: LocalKey[] = [{ key, jwk: null }];
    const algorithms = new Set<string>([config.alg]);
    const claims = { ...base, issuer: name };
    return { admin, remote: false, verify: (t) => verifyLocal(t, keys, algorithms, claims) };
  }

  if ("jwks" in config) {
    const algorithms = new Set<string>();
    config.jwks.keys.forEach((jwk, index) => {
      try {
        createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
      } catch {
        throw new Error(`trusted issuer "${name}": jwks.keys[${index}] is not a valid public key`);
      }
      const algs = algorithmsForJwk(jwk);
      if (algs.length === 0) {
        throw new Error(`trusted issuer "${name}": jwks.keys[${index}] has an unsupported key type or curve`);
      }
      for (const alg of algs) algorithms.add(alg);
    });
    const localKeys = config.jwks.keys.map(localKeyOf);
    if (localKeys.every((k): k is LocalKey => k !== null)) {
      const claims = { ...base, issuer: name };
      return { admin, remote: false, verify: (t) => verifyLocal(t, localKeys, algorithms, claims) };
    }
    // A set with private members: jose's own path, which refuses them at verification.
    const jwks = createLocalJWKSet(config.jwks as JSONWebKeySet);
    const options = { ...base, issuer: name, algorithms: [...algorithms] };
    return { admin, remote: false, verify: async (t) => (await jwtVerify(t, jwks, options)).payload };
  }

  const jwks = createRemoteJWKSet(
    new URL(config.jwksUri),
    fetchImpl === undefined ? {} : { [customFetch]: (url, init) => fetchImpl(url, init) },
  );
  // The remote set's key types are unknown until fetched, so any asymmetric algorithm is allowed;
  // jose's JWKS resolver itself never yields a key for HS*.
  const options = { ...base, issuer: name, algorithms: [...ASYMMETRIC_ALGORITHMS] };
  return { admin, remote: true, verify: async (t) => (await jwtVerify(t, jwks, options)).payload };
}

function reasonFor(error: unknown, remote: boolean): AuthFailureReason {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    // A past `exp` is JWTExpired above; here `exp` is missing or not a number.
    if (error.claim === "nbf" && error.reason === "check_failed") return "not_yet_valid";
    if (error.claim === "aud") return "wrong_audience";
    if (error.claim === "iss") return "unknown_issuer";
    if (error.claim === "sub") return "missing_sub";
    return "malformed_token";
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  // No key in the issuer's set matches the token's kid/alg: not signed by a trusted key.
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return "bad_signature";
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "malformed_token";
  if (error instanceof errors.JOSENotSupported) return "algorithm_not_allowed";
  // Anything else from a remote set is the fetch (network, non-200, bad JSON, timeout).
  if (remote) return "jwks_unavailable";
  return "malformed_token";
}

function scopesOf(payload: JWTPayload): string[] {
  const scope = payload.scope;
  return typeof scope === "string" ? scope.split(/\s+/).filter((s) => s.length > 0) : [];
}

/**
 * Builds the bearer-token verifier. Keys are parsed once here (a bad key throws now, naming its
 * issuer); each `verify` decodes the unverified `iss` to pick the issuer and then runs exactly one
 * `jwtVerify` with that issuer's pinned algorithms.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  assertUniqueIssuers(options.issuers);
  const base = {
    audience: options.audience ?? DEFAULT_AUDIENCE,
    clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    requiredClaims: ["exp", "sub"],
  };
  // A Map, not an object: `iss` is attacker-chosen and must not reach prototype keys.
  const issuers = new Map<string, IssuerVerifier>();
  for (const config of options.issuers) {
    issuers.set(config.issuer, {
      ...buildIssuer(config, base, options.fetch),
      namespace: namespaceOf(config),
    });
  }
  const cacheSize = options.cacheSize ?? 10_000;
  const cacheTtlMs = options.cacheTtlMs ?? 60_000;
  // Keyed by the exact token string: only tokens that passed every check get in, so a forged or
  // altered token always takes the full path. Insertion order doubles as the eviction order.
  const verified = new Map<string, CachedCaller>();

  function remember(token: string, caller: VerifiedCaller, exp: number | undefined): void {
    if (cacheSize === 0 || exp === undefined) return;
    const validUntilMs = Math.min((exp + base.clockTolerance) * 1000, Date.now() + cacheTtlMs);
    if (verified.size >= cacheSize) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, { caller, validUntilMs });
  }

  return {
    async verify(authorization) {
      if (
        authorization === undefined ||
        authorization.trim() === "" ||
        /^bearer *$/i.test(authorization.trim())
      ) {
        throw unauthorized("missing_token");
      }
      const token = BEARER.exec(authorization)?.[1];
      if (token === undefined || token.length > MAX_TOKEN_LENGTH) throw unauthorized("malformed_token");

      const cached = verified.get(token);
      if (cached !== undefined) {
        if (Date.now() < cached.validUntilMs) return cached.caller;
        verified.delete(token);
      }

      let iss: unknown;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        throw unauthorized("malformed_token");
      }
      const issuer = typeof iss === "string" ? issuers.get(iss) : undefined;
      if (typeof iss !== "string" || issuer === undefined) throw unauthorized("unknown_issuer");

      let payload: JWTPayload;
      try {
        payload = await issuer.verify(token);
      } catch (error) {
        const reason = reasonFor(error, issuer.remote);
        throw unauthorized(reason, reason === "jwks_unavailable" ? error : undefined);
      }

      const sub = payload.sub;
      if (typeof sub !== "string" || sub.length === 0) throw unauthorized("missing_sub");
      const problem = subjectProblem(issuer.namespace, sub);
      if (problem !== null) {
        throw new AppError("UNAUTHORIZED", MESSAGES.invalid_sub, { reason: "invalid_sub", problem });
      }
      const scopes = scopesOf(payload);
      // A malformed `spell:max_spend` refuses the token (401 invalid_max_spend): never run uncapped.
      const maxSpend = parseMaxSpend(payload, token);
      const caller: VerifiedCaller = Object.freeze({
        userId: userIdOf(issuer.namespace, sub),
        subject: sub,
        issuer: iss,
        isAdmin: issuer.admin && scopes.includes(ADMIN_SCOPE),
        scopes: Object.freeze(scopes) as string[],
        ...(maxSpend ? { maxSpend: Object.freeze(maxSpend) } : {}),
      });
      remember(token, caller, payload.exp);
      return caller;
    },
  };
}
