import { constants, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { AppError } from "@spell/contracts";
import { createLocalJWKSet, errors, exportJWK, type JWK, jwtVerify } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { TrustedIssuerConfig } from "./config.ts";
import { createTokenVerifier, type TokenVerifier } from "./verifier.ts";

// Local keys (PEM, JWKS) are verified with node:crypto by hand-rolled compact-JWS checks
// (verifier.ts); every case here is also run through jose's own `jwtVerify` with the same keys and
// options, and both must agree: same acceptance, same jose error class.

const ISS = "https://idp.local";
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: string | Buffer) => Buffer.from(value).toString("base64url");
const json = (value: unknown) => b64(JSON.stringify(value));

type Alg = "ES256" | "ES384" | "RS256" | "RS384" | "PS256" | "EdDSA";
const HASH: Record<Alg, string | null> = {
  ES256: "sha256",
  ES384: "sha384",
  RS256: "sha256",
  RS384: "sha384",
  PS256: "sha256",
  EdDSA: null,
};

/** Signs `header.payload` as given (segments or objects), whatever they contain. */
function signRaw(key: KeyObject, alg: Alg, header: unknown, payload: unknown): string {
  const h = typeof header === "string" ? header : json(header);
  const p = typeof payload === "string" ? payload : json(payload);
  const input = Buffer.from(`${h}.${p}`);
  const options = alg.startsWith("ES")
    ? { key, dsaEncoding: "ieee-p1363" as const }
    : alg.startsWith("PS")
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : key;
  return `${h}.${p}.${sign(HASH[alg], input, options).toString("base64url")}`;
}

const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISS,
  sub: "user-1",
  aud: "spell",
  iat: now(),
  exp: now() + 300,
  ...extra,
});

let p256: { privateKey: KeyObject; publicKey: KeyObject };
let p384: { privateKey: KeyObject; publicKey: KeyObject };
let other256: { privateKey: KeyObject; publicKey: KeyObject };
let rsa: { privateKey: KeyObject; publicKey: KeyObject };
let ed: { privateKey: KeyObject; publicKey: KeyObject };
let small: { privateKey: KeyObject; publicKey: KeyObject };
const jwks: { keys: JWK[] } = { keys: [] };

beforeAll(async () => {
  p256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
  other256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  ed = generateKeyPairSync("ed25519");
  small = generateKeyPairSync("rsa", { modulusLength: 1024 });
  jwks.keys = [
    { ...(await exportJWK(p256.publicKey)), kid: "p256" },
    { ...(await exportJWK(p384.publicKey)), kid: "p384" },
    { ...(await exportJWK(rsa.publicKey)), kid: "rsa" },
    { ...(await exportJWK(ed.publicKey)), kid: "ed" },
    { ...(await exportJWK(other256.publicKey)), kid: "enc-only", use: "enc" },
    { ...(await exportJWK(small.publicKey)), kid: "small" },
    // Two keys no kid tells apart (both P-256, no kid): a token without kid matches both.
  ];
});

function verifierFor(keys: JWK[]): TokenVerifier {
  const issuer = { issuer: ISS, jwks: { keys } } as unknown as TrustedIssuerConfig;
  return createTokenVerifier({ issuers: [issuer], cacheSize: 0 });
}

/** What jose says for the same token against the same key set and options. */
async function joseVerdict(token: string, keys: JWK[], algorithms: string[]): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys }), {
      issuer: ISS,
      audience: "spell",
      clockTolerance: 30,
      requiredClaims: ["exp", "sub"],
      algorithms,
    });
    return `ok:${payload.sub}`;
  } catch (error) {
    return error instanceof errors.JOSEError ? error.constructor.name : (error as Error).constructor.name;
  }
}

async function ourVerdict(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    return `ok:${(await verifier.verify(`Bearer ${token}`)).subject}`;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).details.reason as string;
  }
}

const ALL = ["RS256", "RS384", "PS256", "ES256", "ES384", "EdDSA", "Ed25519"];

type Case = [name: string, token: () => string, expected: string, keys?: () => JWK[]];

const cases: Case[] = [
  [
    "ES256 with its kid",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()),
    "ok",
  ],
  [
    "ES384 with its kid",
    () => signRaw(p384.privateKey, "ES384", { alg: "ES384", kid: "p384" }, claims()),
    "ok",
  ],
  ["RS256", () => signRaw(rsa.privateKey, "RS256", { alg: "RS256", kid: "rsa" }, claims()), "ok"],
  [
    "RS384 on the same RSA key",
    () => signRaw(rsa.privateKey, "RS384", { alg: "RS384", kid: "rsa" }, claims()),
    "ok",
  ],
  [
    "PS256 on the same RSA key",
    () => signRaw(rsa.privateKey, "PS256", { alg: "PS256", kid: "rsa" }, claims()),
    "ok",
  ],
  ["EdDSA", () => signRaw(ed.privateKey, "EdDSA", { alg: "EdDSA", kid: "ed" }, claims()), "ok"],
  [
    "wrong curve: a P-384 signature labelled ES256 under the P-256 kid",
    () => signRaw(p384.privateKey, "ES384", { alg: "ES256", kid: "p256" }, claims()),
    "bad_signature",
  ],
  [
    "wrong curve: ES256 naming the P-384 key's kid",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p384" }, claims()),
    "bad_signature",
  ],
  [
    "alg confusion: RS256 header over an EC key's kid",
    () => signRaw(rsa.privateKey, "RS256", { alg: "RS256", kid: "p256" }, claims()),
    "bad_signature",
  ],
  [
    "alg confusion: PS256 signature labelled RS256",
    () => signRaw(rsa.privateKey, "PS256", { alg: "RS256", kid: "rsa" }, claims()),
    "bad_signature",
  ],
  [
    "alg confusion: HS256 keyed with the public JWK's x",
    () => `${json({ alg: "HS256", kid: "p256" })}.${json(claims())}.c2ln`,
    "algorithm_not_allowed",
  ],
  ["alg none", () => `${json({ alg: "none" })}.${json(claims())}.`, "algorithm_not_allowed"],
  ["alg missing", () => signRaw(p256.privateKey, "ES256", { kid: "p256" }, claims()), "malformed_token"],
  [
    "alg not a string",
    () => signRaw(p256.privateKey, "ES256", { alg: 1, kid: "p256" }, claims()),
    "malformed_token",
  ],
  [
    "a key whose use is enc",
    () => signRaw(other256.privateKey, "ES256", { alg: "ES256", kid: "enc-only" }, claims()),
    "bad_signature",
  ],
  [
    "kid that is a number",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: 7 }, claims()),
    "bad_signature",
  ],
  [
    "no kid while two P-256 keys could match",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256" }, claims()),
    "bad_signature",
    () => [
      { ...(jwks.keys[0] as JWK), kid: undefined },
      { ...(jwks.keys[4] as JWK), kid: undefined, use: undefined },
    ],
  ],
  [
    "an RSA key under 2048 bits",
    () => signRaw(small.privateKey, "RS256", { alg: "RS256", kid: "small" }, claims()),
    "malformed_token",
  ],
  [
    "malformed base64url in the header",
    () => {
      const [, p, s] = signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()).split(".");
      return `eyJ*bGci.${p}.${s}`;
    },
    "malformed_token",
  ],
  [
    "malformed base64url in the signature",
    () => {
      const [h, p] = signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()).split(".");
      return `${h}.${p}.abc$$def`;
    },
    "malformed_token",
  ],
  [
    "malformed base64url in a validly signed payload",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, "eyJ*c3Vi"),
    "malformed_token",
  ],
  [
    "a non-ASCII payload segment",
    () => {
      const [h, , s] = signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()).split(".");
      return `${h}.é${json(claims())}.${s}`;
    },
    "malformed_token",
  ],
  [
    "a truncated ES256 signature",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()).slice(0, -10),
    "bad_signature",
  ],
  [
    "the header is a JSON array",
    () => signRaw(p256.privateKey, "ES256", b64("[1]"), claims()),
    "malformed_token",
  ],
  [
    "the header is not UTF-8",
    () => signRaw(p256.privateKey, "ES256", b64(Buffer.from([0x7b, 0xff, 0x7d])), claims()),
    "malformed_token",
  ],
  [
    "the payload is a JSON string",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, json("user-1")),
    "malformed_token",
  ],
  [
    "crit names an unknown extension",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", crit: ["exp"], exp: 1 }, claims()),
    "algorithm_not_allowed",
  ],
  [
    "crit is not an array",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", crit: "b64" }, claims()),
    "malformed_token",
  ],
  [
    "crit b64 without b64",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", crit: ["b64"] }, claims()),
    "malformed_token",
  ],
  [
    "crit b64 with b64 false (unencoded payload)",
    () =>
      signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", crit: ["b64"], b64: false }, claims()),
    "malformed_token",
  ],
  [
    "crit b64 with b64 true",
    () =>
      signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", crit: ["b64"], b64: true }, claims()),
    "ok",
  ],
  [
    "a large header under the token size limit",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256", pad: "x".repeat(8000) }, claims()),
    "ok",
  ],
  [
    "iat that is not a number",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ iat: "now" })),
    "malformed_token",
  ],
  [
    "exp that is not a number",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ exp: "later" })),
    "malformed_token",
  ],
  [
    "expired beyond the tolerance",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ exp: now() - 31 })),
    "expired",
  ],
  [
    "nbf beyond the tolerance",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ nbf: now() + 60 })),
    "not_yet_valid",
  ],
  [
    "aud as an array that holds spell",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ aud: ["x", "spell"] })),
    "ok",
  ],
  [
    "no sub",
    () => signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims({ sub: undefined })),
    "missing_sub",
  ],
  [
    "forged signature over an expired payload reports the signature first",
    () => {
      const [h, , s] = signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "p256" }, claims()).split(".");
      return `${h}.${json(claims({ exp: now() - 3600 }))}.${s}`;
    },
    "bad_signature",
  ],
];

describe("local keys (node:crypto) agree with jose", () => {
  it.each(cases)("%s", async (_name, makeToken, expected, keys) => {
    const set = keys ? keys() : jwks.keys;
    const token = makeToken();
    const ours = await ourVerdict(verifierFor(set), token);
    expect(ours).toBe(expected === "ok" ? "ok:user-1" : expected);
    const jose = await joseVerdict(token, set, ALL);
    if (expected === "ok") expect(jose).toBe("ok:user-1");
    else expect(jose.startsWith("ok:")).toBe(false);
  });

  it("refuses a token over the size limit before decoding it", async () => {
    const token = signRaw(
      p256.privateKey,
      "ES256",
      { alg: "ES256", kid: "p256", pad: "x".repeat(20_000) },
      claims(),
    );
    expect(await ourVerdict(verifierFor(jwks.keys), token)).toBe("malformed_token");
  });

  it("a PEM issuer pinned to ES256 refuses a P-384 key's signature and ES384", async () => {
    const pem = p256.publicKey.export({ type: "spki", format: "pem" }).toString();
    const verifier = createTokenVerifier({
      issuers: [{ issuer: ISS, publicKeyPem: pem, alg: "ES256" }],
      cacheSize: 0,
    });
    const good = signRaw(p256.privateKey, "ES256", { alg: "ES256", kid: "anything" }, claims());
    expect(await ourVerdict(verifier, good)).toBe("ok:user-1");
    const wrongCurve = signRaw(p384.privateKey, "ES384", { alg: "ES256" }, claims());
    expect(await ourVerdict(verifier, wrongCurve)).toBe("bad_signature");
    const es384 = signRaw(p384.privateKey, "ES384", { alg: "ES384" }, claims());
    expect(await ourVerdict(verifier, es384)).toBe("algorithm_not_allowed");
  });

  it("a PEM issuer pinned to PS256 verifies PSS and refuses PKCS#1 v1.5", async () => {
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
    const verifier = createTokenVerifier({
      issuers: [{ issuer: ISS, publicKeyPem: pem, alg: "PS256" }],
      cacheSize: 0,
    });
    expect(await ourVerdict(verifier, signRaw(rsa.privateKey, "PS256", { alg: "PS256" }, claims()))).toBe(
      "ok:user-1",
    );
    expect(await ourVerdict(verifier, signRaw(rsa.privateKey, "RS256", { alg: "PS256" }, claims()))).toBe(
      "bad_signature",
    );
    expect(await ourVerdict(verifier, signRaw(rsa.privateKey, "RS256", { alg: "RS256" }, claims()))).toBe(
      "algorithm_not_allowed",
    );
  });
});
