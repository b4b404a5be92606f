import { describe, expect, it } from "vitest";
import { deriveSpellSigningSecret, signUpstreamRequest, verifySpellSignature } from "./signature.ts";

const secret = deriveSpellSigningSecret("server-key", "spl_1");
const body = JSON.stringify({ text: "hello" });
const now = 1_700_000_000;

describe("deriveSpellSigningSecret", () => {
  it("is stable per spell and differs across spells and server keys", () => {
    expect(deriveSpellSigningSecret("server-key", "spl_1")).toBe(secret);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(deriveSpellSigningSecret("server-key", "spl_2")).not.toBe(secret);
    expect(deriveSpellSigningSecret("other-key", "spl_1")).not.toBe(secret);
  });
});

describe("Spell-Signature", () => {
  it("has the form t=<seconds>,v1=<hex> and verifies against the same body", () => {
    const header = signUpstreamRequest(secret, now, body);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifySpellSignature(secret, header, body, 300, now + 10)).toBe(true);
  });

  it.each([
    ["a changed body", (h: string) => ({ header: h, body: `${body} `, secret })],
    [
      "another spell's secret",
      (h: string) => ({ header: h, body, secret: deriveSpellSigningSecret("server-key", "spl_2") }),
    ],
    [
      "a changed timestamp",
      (h: string) => ({ header: h.replace("t=1700000000", "t=1700000001"), body, secret }),
    ],
    ["a missing v1", (h: string) => ({ header: h.split(",")[0] ?? "", body, secret })],
    ["a truncated v1", (h: string) => ({ header: h.slice(0, -2), body, secret })],
    ["garbage", () => ({ header: "nonsense", body, secret })],
  ])("rejects %s", (_name, tamper) => {
    const c = tamper(signUpstreamRequest(secret, now, body));
    expect(verifySpellSignature(c.secret, c.header, c.body, 300, now)).toBe(false);
  });

  it("rejects a signature outside the tolerance window (replay)", () => {
    const header = signUpstreamRequest(secret, now, body);
    expect(verifySpellSignature(secret, header, body, 300, now + 301)).toBe(false);
    expect(verifySpellSignature(secret, header, body, 300, now - 301)).toBe(false);
  });

  it("accepts a header carrying several v1 values when one matches (secret rotation)", () => {
    const old = signUpstreamRequest("old-secret", now, body).split(",")[1];
    const header = `${signUpstreamRequest(secret, now, body)},${old}`;
    expect(verifySpellSignature(secret, header, body, 300, now)).toBe(true);
    expect(verifySpellSignature("old-secret", header, body, 300, now)).toBe(true);
  });
});
