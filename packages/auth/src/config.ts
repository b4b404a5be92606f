import { z } from "zod";
import { NAMESPACE_PATTERN, NAMESPACE_SEPARATOR } from "./identity.ts";

/** Asymmetric JWS algorithms an issuer may sign with; HS* only ever comes from a `secret` issuer. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

const ZIssuerName = z.string().min(1).max(2048);

/**
 * A public JWK. Private members (`d`, `p`, `q`, …) and symmetric keys (`oct`) are refused so a
 * misplaced private key or secret never becomes a verification key.
 */
const ZPublicJwk = z
  .looseObject({
    kty: z.enum(["RSA", "EC", "OKP"], { error: 'kty must be "RSA", "EC" or "OKP" (public keys only)' }),
    alg: z.enum(ASYMMETRIC_ALGORITHMS).optional(),
    kid: z.string().optional(),
    use: z.string().optional(),
    crv: z.string().optional(),
  })
  .refine((jwk) => !("d" in jwk), { message: "jwks must hold public keys only (found a private key)" });

/** Loopback is the only place plain http is tolerated: local tests and dev issuers. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

const ZJwksUri = z.url({ protocol: /^https?$/, error: "jwksUri must be an http(s) URL" }).refine(
  (uri) => {
    const url = new URL(uri);
    return url.protocol === "https:" || LOOPBACK_HOSTS.has(url.hostname);
  },
  { message: "jwksUri must use https (plain http only on loopback)" },
);

const admin = z.boolean().optional();
/** Which users this issuer names (see identity.ts): by default its own; equal values share users. */
const namespace = z
  .string()
  .regex(
    NAMESPACE_PATTERN,
    `namespace must be printable ASCII without "${NAMESPACE_SEPARATOR}", at most 200 characters`,
  )
  .optional();

export const ZJwksIssuer = z.strictObject({
  issuer: ZIssuerName,
  jwks: z.strictObject({ keys: z.array(ZPublicJwk).min(1, "jwks.keys must not be empty") }),
  admin,
  namespace,
});

export const ZJwksUriIssuer = z.strictObject({ issuer: ZIssuerName, jwksUri: ZJwksUri, admin, namespace });

export const ZPemIssuer = z.strictObject({
  issuer: ZIssuerName,
  publicKeyPem: z
    .string()
    .regex(/-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/, "publicKeyPem must be a PEM public key (SPKI)"),
  alg: z.enum(ASYMMETRIC_ALGORITHMS),
  admin,
  namespace,
});

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (32 bytes). */
export const MIN_SECRET_BYTES = 32;

export const ZSecretIssuer = z.strictObject({
  issuer: ZIssuerName,
  secret: z.string().refine((s) => new TextEncoder().encode(s).byteLength >= MIN_SECRET_BYTES, {
    message: `secret must be at least ${MIN_SECRET_BYTES} bytes`,
  }),
  admin,
  namespace,
});

/** One trusted issuer: where its keys come from, and whether its tokens may carry `spell:admin`. */
export const ZTrustedIssuer = z.union([ZJwksIssuer, ZJwksUriIssuer, ZPemIssuer, ZSecretIssuer]);
export type TrustedIssuerConfig = z.infer<typeof ZTrustedIssuer>;

const KIND_SCHEMAS = [
  ["jwks", ZJwksIssuer],
  ["jwksUri", ZJwksUriIssuer],
  ["publicKeyPem", ZPemIssuer],
  ["secret", ZSecretIssuer],
] as const;

function describeEntry(index: number, entry: unknown): string {
  const issuer =
    typeof entry === "object" &&
    entry !== null &&
    typeof (entry as { issuer?: unknown }).issuer === "string" &&
    (entry as { issuer: string }).issuer !== ""
      ? ` ("${(entry as { issuer: string }).issuer}")`
      : "";
  return `trusted issuer #${index}${issuer}`;
}

/**
 * Parses one issuer entry. The key source field picks the schema, so the error names what is wrong
 * with that kind instead of zod's "no union member matched". Messages never echo key material.
 */
function parseEntry(entry: unknown, index: number): TrustedIssuerConfig {
  const where = describeEntry(index, entry);
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new Error(`${where}: must be an object`);
  }
  const kinds = KIND_SCHEMAS.filter(([field]) => field in entry);
  const [kind, ...extra] = kinds;
  if (kind === undefined || extra.length > 0) {
    throw new Error(`${where}: must have exactly one of "jwks", "jwksUri", "publicKeyPem" or "secret"`);
  }
  const result = kind[1].safeParse(entry);
  if (!result.success) throw new Error(`${where}: ${z.prettifyError(result.error).replace(/\n/g, "; ")}`);
  return result.data;
}

/** Checks what a single entry cannot: issuer names are unique. */
export function assertUniqueIssuers(issuers: readonly TrustedIssuerConfig[]): void {
  const seen = new Set<string>();
  issuers.forEach((config, index) => {
    if (seen.has(config.issuer)) {
      throw new Error(`${describeEntry(index, config)}: issuer is listed more than once`);
    }
    if (config.namespace === undefined && config.issuer.includes(NAMESPACE_SEPARATOR)) {
      throw new Error(
        `${describeEntry(index, config)}: an issuer containing "${NAMESPACE_SEPARATOR}" needs an explicit namespace`,
      );
    }
    seen.add(config.issuer);
  });
}

/**
 * Parses the trusted-issuer list (the JSON array the app reads from `SPELL_TRUSTED_ISSUERS`).
 * Throws an Error naming the first bad entry by position and issuer.
 */
export function parseTrustedIssuers(json: string): TrustedIssuerConfig[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error("trusted issuers: not valid JSON (expected a JSON array of issuer objects)");
  }
  if (!Array.isArray(value)) throw new Error("trusted issuers: expected a JSON array of issuer objects");
  const issuers = value.map(parseEntry);
  assertUniqueIssuers(issuers);
  return issuers;
}
