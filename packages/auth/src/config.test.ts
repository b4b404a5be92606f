import { describe, expect, it } from "vitest";
import { parseTrustedIssuers, ZTrustedIssuer } from "./config.ts";

const SECRET = "a-test-secret-that-is-at-least-32-bytes-long";
const PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----";
const EC_JWK = { kty: "EC", crv: "P-256", x: "x", y: "y" };

describe("parseTrustedIssuers", () => {
  it("accepts each issuer kind", () => {
    const issuers = parseTrustedIssuers(
      JSON.stringify([
        { issuer: "a", jwks: { keys: [EC_JWK] }, admin: true },
        { issuer: "b", jwksUri: "https://idp.example/.well-known/jwks.json" },
        { issuer: "c", publicKeyPem: PEM, alg: "ES256" },
        { issuer: "d", secret: SECRET, admin: false },
        { issuer: "e", jwksUri: "http://127.0.0.1:8080/jwks" },
      ]),
    );
    expect(issuers.map((i) => i.issuer)).toEqual(["a", "b", "c", "d", "e"]);
    expect(issuers[0]?.admin).toBe(true);
  });

  it("accepts an empty list", () => {
    expect(parseTrustedIssuers("[]")).toEqual([]);
  });

  it.each([
    ["invalid JSON", "{", /not valid JSON/],
    ["a non-array", '{"issuer":"a"}', /expected a JSON array/],
    ["a non-object entry", '["a"]', /#0: must be an object/],
    ["no key source", '[{"issuer":"a"}]', /#0 \("a"\): must have exactly one of/],
    [
      "two key sources",
      `[{"issuer":"a","secret":"${SECRET}","jwksUri":"https://x.example"}]`,
      /exactly one of/,
    ],
    ["an unknown field", `[{"issuer":"a","secret":"${SECRET}","adminn":true}]`, /#0 \("a"\):.*adminn/],
    ["an empty issuer", `[{"issuer":"","secret":"${SECRET}"}]`, /#0:.*issuer/],
    ["a short secret", '[{"issuer":"a","secret":"short"}]', /at least 32 bytes/],
    ["a PEM without alg", `[{"issuer":"a","publicKeyPem":${JSON.stringify(PEM)}}]`, /alg/],
    ["a PEM with alg HS256", `[{"issuer":"a","publicKeyPem":${JSON.stringify(PEM)},"alg":"HS256"}]`, /alg/],
    ["a PEM alg none", `[{"issuer":"a","publicKeyPem":${JSON.stringify(PEM)},"alg":"none"}]`, /alg/],
    [
      "a private PEM",
      '[{"issuer":"a","publicKeyPem":"-----BEGIN PRIVATE KEY-----","alg":"ES256"}]',
      /PEM public key/,
    ],
    [
      "a private JWK",
      `[{"issuer":"a","jwks":{"keys":[${JSON.stringify({ ...EC_JWK, d: "secret-d" })}]}}]`,
      /public keys only/,
    ],
    ["a symmetric JWK", '[{"issuer":"a","jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}}]', /kty/],
    ["an empty key set", '[{"issuer":"a","jwks":{"keys":[]}}]', /must not be empty/],
    ["plain http off loopback", '[{"issuer":"a","jwksUri":"http://idp.example/jwks"}]', /https/],
    ["a non-http jwksUri", '[{"issuer":"a","jwksUri":"file:///etc/jwks.json"}]', /http/],
    ["an admin flag that is not boolean", `[{"issuer":"a","secret":"${SECRET}","admin":"yes"}]`, /admin/],
    [
      "the second entry bad",
      `[{"issuer":"a","secret":"${SECRET}"},{"issuer":"b","secret":"x"}]`,
      /#1 \("b"\)/,
    ],
    [
      "a duplicated issuer",
      `[{"issuer":"a","secret":"${SECRET}"},{"issuer":"a","jwksUri":"https://x.example"}]`,
      /#1 \("a"\): issuer is listed more than once/,
    ],
  ])("refuses %s with a clear message", (_name, json, message) => {
    expect(() => parseTrustedIssuers(json)).toThrow(message);
  });

  it("never echoes key material in its errors", () => {
    const json = JSON.stringify([{ issuer: "a", secret: "too-short-secret-value", admin: "x" }]);
    expect(() => parseTrustedIssuers(json)).toThrow(/#0 \("a"\)/);
    try {
      parseTrustedIssuers(json);
    } catch (error) {
      expect((error as Error).message).not.toContain("too-short-secret-value");
    }
  });
});

describe("ZTrustedIssuer", () => {
  it("is the union of the four kinds", () => {
    expect(ZTrustedIssuer.safeParse({ issuer: "a", secret: SECRET }).success).toBe(true);
    expect(ZTrustedIssuer.safeParse({ issuer: "a" }).success).toBe(false);
  });
});
