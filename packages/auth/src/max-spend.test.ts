import { AppError } from "@spell/contracts";
import { base64url, exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { MAX_SPEND_CLAIM, parseMaxSpend } from "./max-spend.ts";

const base = { iss: "https://users.test", sub: "alice", exp: 2_000_000_000 };
const withCap = (cap: unknown, extra: Record<string, unknown> = {}) => ({
  ...base,
  ...extra,
  [MAX_SPEND_CLAIM]: cap,
});

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("parseMaxSpend", () => {
  it("is undefined for a token without the claim", () => {
    expect(parseMaxSpend(base, "t")).toBeUndefined();
  });

  it("reads amount and currency, with the token's exp as its end", () => {
    expect(parseMaxSpend(withCap({ amount: 250, currency: "USD" }), "t")).toEqual({
      amount: 250,
      currency: "usd",
      key: expect.stringMatching(/^tok:[0-9a-f]{64}$/),
      expiresAt: "2033-05-18T03:33:20.000Z",
    });
  });

  it("keeps fractions down to 1/10000 of a minor unit, rounding down", () => {
    expect(parseMaxSpend(withCap({ amount: 0.05, currency: "usd" }), "t")?.amount).toBe(0.05);
    expect(parseMaxSpend(withCap({ amount: 1.23456789, currency: "usd" }), "t")?.amount).toBe(1.2345);
    expect(parseMaxSpend(withCap({ amount: 0, currency: "eur" }), "t")?.amount).toBe(0);
  });

  it("keys by jti within issuer and subject when there is one, else by the token", () => {
    const a = parseMaxSpend(withCap({ amount: 1, currency: "usd" }, { jti: "j1" }), "token-a");
    const b = parseMaxSpend(withCap({ amount: 1, currency: "usd" }, { jti: "j1" }), "token-b");
    const otherSub = parseMaxSpend(
      withCap({ amount: 1, currency: "usd" }, { jti: "j1", sub: "bob" }),
      "token-a",
    );
    expect(a?.key).toMatch(/^jti:[0-9a-f]{64}$/);
    expect(b?.key).toBe(a?.key);
    expect(otherSub?.key).not.toBe(a?.key);
    const t1 = parseMaxSpend(withCap({ amount: 1, currency: "usd" }), "token-a");
    const t2 = parseMaxSpend(withCap({ amount: 1, currency: "usd" }), "token-b");
    expect(t1?.key).not.toBe(t2?.key);
  });

  it.each([
    ["a number", 5],
    ["null", null],
    ["a string", "5 usd"],
    ["a negative amount", { amount: -1, currency: "usd" }],
    ["an amount as text", { amount: "5", currency: "usd" }],
    ["no currency", { amount: 5 }],
    ["a bad currency", { amount: 5, currency: "dollars" }],
    ["an unknown member", { amount: 5, currency: "usd", window: "day" }],
    ["an infinite amount", { amount: Number.POSITIVE_INFINITY, currency: "usd" }],
    ["an amount beyond safe micros", { amount: 1e15, currency: "usd" }],
  ])("refuses %s with 401 invalid_max_spend", (_, cap) => {
    const error = refusal(() => parseMaxSpend(withCap(cap), "t"));
    expect(error.code).toBe("UNAUTHORIZED");
    expect(error.status).toBe(401);
    expect(error.details).toMatchObject({ reason: "invalid_max_spend", problem: expect.any(String) });
  });

  it("refuses a capped token whose jti is not a usable string", () => {
    for (const jti of [42, "", "x".repeat(257)]) {
      const error = refusal(() => parseMaxSpend(withCap({ amount: 1, currency: "usd" }, { jti }), "t"));
      expect(error.details.reason).toBe("invalid_max_spend");
    }
  });

  describe("without a jti, a signature variant of the same token shares its allowance", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = await exportJWK(publicKey);
    const token = await new SignJWT(withCap({ amount: 1, currency: "usd" }))
      .setProtectedHeader({ alg: "ES256" })
      .sign(privateKey);
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const keyOf = async (variant: string) => {
      // The premise: the variant is a different string that verifies all the same.
      expect(variant).not.toBe(token);
      const { payload: claims } = await jwtVerify(variant, jwk, { algorithms: ["ES256"] });
      return parseMaxSpend(claims, variant)?.key;
    };

    it("with the signature's unused last bits flipped", async () => {
      // 64 bytes in 86 base64url characters: the last character carries 4 bits the decoder ignores.
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const last = alphabet.indexOf(signature.at(-1) as string);
      const flipped = `${signature.slice(0, -1)}${alphabet[last ^ 1]}`;
      expect(await keyOf(`${header}.${payload}.${flipped}`)).toBe(
        parseMaxSpend(withCap({ amount: 1, currency: "usd" }), token)?.key,
      );
    });

    it("with the ECDSA s replaced by n − s", async () => {
      const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
      const raw = base64url.decode(signature);
      const s = BigInt(`0x${Buffer.from(raw.subarray(32)).toString("hex")}`);
      const highS = Buffer.from((n - s).toString(16).padStart(64, "0"), "hex");
      const variant = base64url.encode(Buffer.concat([raw.subarray(0, 32), highS]));
      expect(await keyOf(`${header}.${payload}.${variant}`)).toBe(
        parseMaxSpend(withCap({ amount: 1, currency: "usd" }), token)?.key,
      );
    });
  });
});
