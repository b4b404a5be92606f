import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { parseTrustedIssuers } from "./config.ts";
import { subjectProblem, userIdOf } from "./identity.ts";
import { createTokenVerifier } from "./verifier.ts";

const A = { issuer: "https://a.example", secret: "issuer-a-secret-0123456789abcdef0123" };
const B = { issuer: "https://b.example", secret: "issuer-b-secret-0123456789abcdef0123" };

function token(issuer: { issuer: string; secret: string }, sub: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(issuer.issuer)
    .setSubject(sub)
    .setAudience("spell")
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(issuer.secret));
}

describe("identity is (issuer, subject) — happy", () => {
  it("names each issuer's users in its own namespace by default", async () => {
    const verifier = createTokenVerifier({ issuers: [A, B], audience: "spell" });
    const fromA = await verifier.verify(`Bearer ${await token(A, "alice")}`);
    const fromB = await verifier.verify(`Bearer ${await token(B, "alice")}`);
    expect(fromA.userId).toBe("https://a.example|alice");
    expect(fromB.userId).toBe("https://b.example|alice");
    expect(fromA.userId).not.toBe(fromB.userId);
    expect(fromA.subject).toBe("alice");
  });

  it("lets an operator make two issuers name the same people with one namespace", async () => {
    const verifier = createTokenVerifier({
      issuers: [
        { ...A, namespace: "acme" },
        { ...B, namespace: "acme" },
      ],
      audience: "spell",
    });
    const fromA = await verifier.verify(`Bearer ${await token(A, "alice")}`);
    const fromB = await verifier.verify(`Bearer ${await token(B, "alice")}`);
    expect(fromA.userId).toBe("acme|alice");
    expect(fromB.userId).toBe(fromA.userId);
  });

  it("keeps the bare sub in the empty namespace (users from before namespaces)", async () => {
    const verifier = createTokenVerifier({ issuers: [{ ...A, namespace: "" }], audience: "spell" });
    expect((await verifier.verify(`Bearer ${await token(A, "alice")}`)).userId).toBe("alice");
  });
});

describe("identity is (issuer, subject) — refused", () => {
  it.each([
    ["a control character", "ali\u0007ce"],
    ["a newline", "alice\nadmin"],
    ["U+0000", "a\u0000"],
    ["DEL", "a\u007f"],
    ["a lone surrogate", "a\uD800"],
    ["256 characters", "x".repeat(256)],
  ])("answers 401 invalid_sub for a validly signed sub with %s", async (_name, sub) => {
    const verifier = createTokenVerifier({ issuers: [A], audience: "spell" });
    await expect(verifier.verify(`Bearer ${await token(A, sub)}`)).rejects.toMatchObject({
      code: "UNAUTHORIZED",
      details: { reason: "invalid_sub" },
    });
  });

  it("refuses the separator in a sub of the empty namespace (it would collide with a namespace's user)", async () => {
    const verifier = createTokenVerifier({ issuers: [{ ...A, namespace: "" }], audience: "spell" });
    await expect(verifier.verify(`Bearer ${await token(A, "acme|alice")}`)).rejects.toMatchObject({
      details: { reason: "invalid_sub" },
    });
    expect(subjectProblem("acme", "x|y")).toBeNull();
    expect(userIdOf("acme", "x|y")).toBe("acme|x|y");
  });

  it("refuses a namespace with the separator, and an issuer with it but no namespace", () => {
    expect(() => parseTrustedIssuers(JSON.stringify([{ ...A, namespace: "a|b" }]))).toThrow(/namespace/);
    expect(() => parseTrustedIssuers(JSON.stringify([{ ...A, issuer: "odd|issuer" }]))).toThrow(
      /explicit namespace/,
    );
  });
});
