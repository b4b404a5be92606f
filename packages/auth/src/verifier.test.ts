import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AppError } from "@spell/contracts";
import {
  base64url,
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrustedIssuerConfig } from "./config.ts";
import { type AuthFailureReason, createTokenVerifier, type TokenVerifier } from "./verifier.ts";

const SECRET = "a-test-secret-that-is-at-least-32-bytes-long";
const now = () => Math.floor(Date.now() / 1000);

interface Claims {
  iss?: string;
  sub?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  scope?: string;
}

/** Signs a JWT with sane defaults; `undefined` in `claims` drops that claim. */
async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Claims,
  header: Record<string, string> = {},
): Promise<string> {
  const payload: JWTPayload = { sub: "user-1", aud: "spell", exp: now() + 300, ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload)
    .setProtectedHeader({ alg, typ: "JWT", ...header })
    .setIssuedAt()
    .sign(key);
}

function unsecured(claims: Claims): string {
  const enc = (value: object) => base64url.encode(JSON.stringify(value));
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ sub: "user-1", aud: "spell", exp: now() + 300, ...claims })}.`;
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => {
      throw new Error("expected verification to fail");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

/** The public EC members of an exported JWK, typed as the config schema wants them. */
function publicJwk({ crv, x, y }: { crv?: string; x?: string; y?: string }) {
  return { kty: "EC" as const, crv, x, y };
}

let rsa: { publicKey: CryptoKey; privateKey: CryptoKey; pem: string };
let ec: { publicKey: CryptoKey; privateKey: CryptoKey; pem: string };
let jwksKey: { privateKey: CryptoKey; kid: string };
let remoteKey: { privateKey: CryptoKey; kid: string };
let stranger: CryptoKey;
let server: Server;
let jwksUri: string;
let jwksHits = 0;
let issuers: TrustedIssuerConfig[];
let verifier: TokenVerifier;

beforeAll(async () => {
  const rsaPair = await generateKeyPair("RS256", { modulusLength: 2048 });
  rsa = { ...rsaPair, pem: await exportSPKI(rsaPair.publicKey) };
  const ecPair = await generateKeyPair("ES256");
  ec = { ...ecPair, pem: await exportSPKI(ecPair.publicKey) };
  const jwksPair = await generateKeyPair("ES256");
  jwksKey = { privateKey: jwksPair.privateKey, kid: "jwks-1" };
  const remotePair = await generateKeyPair("ES256");
  remoteKey = { privateKey: remotePair.privateKey, kid: "remote-1" };
  stranger = (await generateKeyPair("ES256")).privateKey;

  const remoteJwks = {
    keys: [{ ...(await exportJWK(remotePair.publicKey)), kid: "remote-1", alg: "ES256" }],
  };
  server = createServer((_req, res) => {
    jwksHits += 1;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(remoteJwks));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;

  issuers = [
    {
      issuer: "https://idp.jwks",
      jwks: { keys: [{ ...publicJwk(await exportJWK(jwksPair.publicKey)), kid: "jwks-1" }] },
      admin: true,
    },
    { issuer: "https://idp.remote", jwksUri },
    { issuer: "https://idp.rsa", publicKeyPem: rsa.pem, alg: "RS256" },
    { issuer: "https://idp.ec", publicKeyPem: ec.pem, alg: "ES256", admin: true },
    { issuer: "https://idp.hs", secret: SECRET },
  ];
  verifier = createTokenVerifier({ issuers, audience: "spell" });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const secret = () => new TextEncoder().encode(SECRET);

type Case = [name: string, token: () => Promise<string> | string, expected: AuthFailureReason | string];

// `expected` is either a failure reason or the subject of an accepted token.
const corpus: Case[] = [
  [
    "jwks issuer, valid",
    () => sign(jwksKey.privateKey, "ES256", { iss: "https://idp.jwks" }, { kid: "jwks-1" }),
    "user-1",
  ],
  [
    "jwksUri issuer, valid",
    () => sign(remoteKey.privateKey, "ES256", { iss: "https://idp.remote" }, { kid: "remote-1" }),
    "user-1",
  ],
  ["PEM RS256 issuer, valid", () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa" }), "user-1"],
  [
    "PEM ES256 issuer, valid",
    () => sign(ec.privateKey, "ES256", { iss: "https://idp.ec", sub: "ec-user" }),
    "ec-user",
  ],
  [
    "HS256 secret issuer, valid",
    () => sign(secret(), "HS256", { iss: "https://idp.hs", sub: "hs-user" }),
    "hs-user",
  ],
  ["expired", () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", exp: now() - 60 }), "expired"],
  [
    "expired 10 s ago is within the 30 s skew",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", exp: now() - 10 }),
    "user-1",
  ],
  [
    "nbf in 2 minutes",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", nbf: now() + 120 }),
    "not_yet_valid",
  ],
  [
    "nbf in 10 s is within the 30 s skew",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", nbf: now() + 10 }),
    "user-1",
  ],
  [
    "no exp at all",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", exp: undefined }),
    "malformed_token",
  ],
  [
    "nbf is not a number",
    () => sign(secret(), "HS256", { iss: "https://idp.hs", nbf: "soon" as unknown as number }),
    "malformed_token",
  ],
  [
    "untrusted issuer",
    () => sign(rsa.privateKey, "RS256", { iss: "https://evil.example" }),
    "unknown_issuer",
  ],
  ["no iss", () => sign(rsa.privateKey, "RS256", {}), "unknown_issuer"],
  ["iss on the object prototype", () => sign(secret(), "HS256", { iss: "__proto__" }), "unknown_issuer"],
  [
    "trusted iss, signed by a stranger's key",
    () => sign(stranger, "ES256", { iss: "https://idp.ec" }),
    "bad_signature",
  ],
  [
    "jwks issuer, unknown kid",
    () => sign(stranger, "ES256", { iss: "https://idp.jwks" }, { kid: "other" }),
    "bad_signature",
  ],
  [
    "HS256 with a wrong secret",
    () => sign(new TextEncoder().encode(`${SECRET}-other`), "HS256", { iss: "https://idp.hs" }),
    "bad_signature",
  ],
  [
    "wrong audience",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", aud: "other-api" }),
    "wrong_audience",
  ],
  [
    "no audience",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", aud: undefined }),
    "wrong_audience",
  ],
  [
    "missing sub",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", sub: undefined }),
    "missing_sub",
  ],
  ["empty sub", () => sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", sub: "" }), "missing_sub"],
  ["alg none against an RS256 issuer", () => unsecured({ iss: "https://idp.rsa" }), "algorithm_not_allowed"],
  ["alg none against a secret issuer", () => unsecured({ iss: "https://idp.hs" }), "algorithm_not_allowed"],
  ["alg none against a jwks issuer", () => unsecured({ iss: "https://idp.jwks" }), "algorithm_not_allowed"],
  [
    "HS/RS confusion: HS256 keyed with the RSA public PEM",
    () => sign(new TextEncoder().encode(rsa.pem), "HS256", { iss: "https://idp.rsa" }),
    "algorithm_not_allowed",
  ],
  [
    "HS256 against a jwksUri issuer",
    () => sign(new TextEncoder().encode(rsa.pem), "HS256", { iss: "https://idp.remote" }),
    "algorithm_not_allowed",
  ],
  [
    "RS256 against an ES256-pinned issuer",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.ec" }),
    "algorithm_not_allowed",
  ],
  [
    "RS256 against the HS256 issuer",
    () => sign(rsa.privateKey, "RS256", { iss: "https://idp.hs" }),
    "algorithm_not_allowed",
  ],
  [
    "tampered payload",
    async () => {
      const [h, , s] = (await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa" })).split(".");
      const forged = base64url.encode(
        JSON.stringify({ iss: "https://idp.rsa", sub: "admin", aud: "spell", exp: now() + 300 }),
      );
      return `${h}.${forged}.${s}`;
    },
    "bad_signature",
  ],
  ["not a JWT", () => "not-a-jwt", "malformed_token"],
  [
    "payload is not JSON",
    () => `${base64url.encode('{"alg":"HS256"}')}.${base64url.encode("nope")}.c2ln`,
    "malformed_token",
  ],
];

describe("token corpus", () => {
  it.each(corpus)("%s", async (_name, makeToken, expected) => {
    const token = await makeToken();
    const attempt = verifier.verify(`Bearer ${token}`);
    if (expected.startsWith("user") || expected.endsWith("-user")) {
      await expect(attempt).resolves.toMatchObject({ subject: expected });
      return;
    }
    const error = await failure(attempt);
    expect(error.code).toBe("UNAUTHORIZED");
    expect(error.details).toEqual({ reason: expected });
    expect(error.message).not.toContain(token);
    expect(error.cause).toBeUndefined();
  });
});

describe("authorization header", () => {
  it.each([
    ["no header", undefined, "missing_token"],
    ["an empty header", "", "missing_token"],
    ["a blank header", "   ", "missing_token"],
    ["a bare scheme", "Bearer", "missing_token"],
    ["a scheme and spaces", "Bearer   ", "missing_token"],
    ["another scheme", "Basic dXNlcjpwYXNz", "malformed_token"],
    ["two credentials", "Bearer a.b.c extra", "malformed_token"],
    ["a 20 kB token", `Bearer ${"a".repeat(20_000)}`, "malformed_token"],
  ] as const)("%s is refused as %s", async (_name, header, reason) => {
    const error = await failure(verifier.verify(header));
    expect(error.details).toEqual({ reason });
  });

  it("accepts the scheme in any case", async () => {
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa" });
    await expect(verifier.verify(`bEaReR ${token}`)).resolves.toMatchObject({ subject: "user-1" });
  });
});

describe("admin", () => {
  it("is granted by spell:admin from an admin-capable issuer", async () => {
    const token = await sign(ec.privateKey, "ES256", { iss: "https://idp.ec", scope: "read spell:admin" });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toEqual({
      userId: "https://idp.ec|user-1",
      subject: "user-1",
      issuer: "https://idp.ec",
      isAdmin: true,
      scopes: ["read", "spell:admin"],
    });
  });

  it("is not granted by spell:admin from an issuer without admin", async () => {
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", scope: "spell:admin" });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({
      isAdmin: false,
      scopes: ["spell:admin"],
    });
  });

  it("is not granted by other scopes from an admin-capable issuer", async () => {
    const token = await sign(ec.privateKey, "ES256", {
      iss: "https://idp.ec",
      scope: "spell:administrator read",
    });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ isAdmin: false });
  });

  it("is not granted without a scope claim", async () => {
    const token = await sign(jwksKey.privateKey, "ES256", { iss: "https://idp.jwks" }, { kid: "jwks-1" });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ isAdmin: false, scopes: [] });
  });
});

describe("options", () => {
  it("uses the configured audience", async () => {
    const custom = createTokenVerifier({ issuers, audience: "billing" });
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", aud: "billing" });
    await expect(custom.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: "user-1" });
    const error = await failure(verifier.verify(`Bearer ${token}`));
    expect(error.details).toEqual({ reason: "wrong_audience" });
  });

  it("honours a tighter clock tolerance", async () => {
    const strict = createTokenVerifier({ issuers, audience: "spell", clockToleranceSec: 0 });
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", exp: now() - 10 });
    const error = await failure(strict.verify(`Bearer ${token}`));
    expect(error.details).toEqual({ reason: "expired" });
  });

  it("refuses a duplicated issuer at construction", () => {
    const twice = [...issuers.slice(0, 1), ...issuers.slice(0, 1)];
    expect(() => createTokenVerifier({ issuers: twice, audience: "spell" })).toThrow(/more than once/);
  });

  it("refuses a PEM key that does not fit its alg at construction", () => {
    expect(() =>
      createTokenVerifier({
        issuers: [{ issuer: "x", publicKeyPem: ec.pem, alg: "RS256" }],
        audience: "spell",
      }),
    ).toThrow(/"x": publicKeyPem is not a key for RS256/);
  });
});

describe("jwksUri issuer", () => {
  it("fetches the key set once and reuses it", async () => {
    const fresh = createTokenVerifier({ issuers, audience: "spell" });
    const before = jwksHits;
    for (const sub of ["a", "b", "c"]) {
      const token = await sign(
        remoteKey.privateKey,
        "ES256",
        { iss: "https://idp.remote", sub },
        { kid: "remote-1" },
      );
      await expect(fresh.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: sub });
    }
    expect(jwksHits - before).toBe(1);
  });

  it("uses the injected fetch", async () => {
    const seen: string[] = [];
    const injected: typeof fetch = async (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    const withFetch = createTokenVerifier({ issuers, audience: "spell", fetch: injected });
    const token = await sign(
      remoteKey.privateKey,
      "ES256",
      { iss: "https://idp.remote" },
      { kid: "remote-1" },
    );
    await expect(withFetch.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: "user-1" });
    expect(seen).toEqual([jwksUri]);
  });

  it.each([
    ["the network fails", async () => Promise.reject(new TypeError("fetch failed"))],
    ["the server answers 500", async () => new Response("oops", { status: 500 })],
    ["the body is not JSON", async () => new Response("<html>", { status: 200 })],
  ])("reports jwks_unavailable when %s", async (_name, failingFetch) => {
    const broken = createTokenVerifier({ issuers, audience: "spell", fetch: failingFetch as typeof fetch });
    const token = await sign(
      remoteKey.privateKey,
      "ES256",
      { iss: "https://idp.remote" },
      { kid: "remote-1" },
    );
    const error = await failure(broken.verify(`Bearer ${token}`));
    expect(error.details).toEqual({ reason: "jwks_unavailable" });
  });
});

describe("verified-token cache", () => {
  it("answers a repeated token without verifying its signature again", async () => {
    const cached = createTokenVerifier({ issuers, audience: "spell" });
    const token = await sign(jwksKey.privateKey, "ES256", { iss: "https://idp.jwks" }, { kid: "jwks-1" });
    const first = await cached.verify(`Bearer ${token}`);
    // A verification builds a new caller; the very same object back means the signature was not redone.
    expect(await cached.verify(`Bearer ${token}`)).toBe(first);
    const uncached = createTokenVerifier({ issuers, audience: "spell", cacheSize: 0 });
    const once = await uncached.verify(`Bearer ${token}`);
    expect(await uncached.verify(`Bearer ${token}`)).not.toBe(once);
  });

  it("never admits an altered copy of a cached token", async () => {
    const cached = createTokenVerifier({ issuers, audience: "spell" });
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa" });
    await cached.verify(`Bearer ${token}`);
    const [header, payload, signature] = token.split(".");
    const forged = `${header}.${base64url.encode(JSON.stringify({ iss: "https://idp.rsa", sub: "admin", aud: "spell", exp: now() + 300 }))}.${signature}`;
    expect(payload).not.toBe(forged.split(".")[1]);
    expect((await failure(cached.verify(`Bearer ${forged}`))).details).toEqual({ reason: "bad_signature" });
  });

  it("stops answering a cached token once it expires", async () => {
    const cached = createTokenVerifier({ issuers, audience: "spell", clockToleranceSec: 0 });
    const token = await sign(rsa.privateKey, "RS256", { iss: "https://idp.rsa", exp: now() + 1 });
    await expect(cached.verify(`Bearer ${token}`)).resolves.toMatchObject({ subject: "user-1" });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await failure(cached.verify(`Bearer ${token}`))).details).toEqual({ reason: "expired" });
  });

  it("keeps at most cacheSize tokens and still verifies evicted ones", async () => {
    const small = createTokenVerifier({ issuers, audience: "spell", cacheSize: 2 });
    const tokens = await Promise.all(
      ["a", "b", "c"].map((sub) => sign(secret(), "HS256", { iss: "https://idp.hs", sub })),
    );
    for (const token of tokens) await small.verify(`Bearer ${token}`);
    await expect(small.verify(`Bearer ${tokens[0]}`)).resolves.toMatchObject({ subject: "a" });
  });
});
