import { createHash } from "node:crypto";
import { AppError, type TokenSpendCap } from "@spell/contracts";
import type { JWTPayload } from "jose";
import { z } from "zod";

/** The claim naming a token's lifetime spend cap. */
export const MAX_SPEND_CLAIM = "spell:max_spend";

/** Micros per minor unit (contracts' MICROS_PER_MINOR_UNIT): the cap's resolution. */
const RESOLUTION = 10_000;

/**
 * `{"amount": <minor units ≥ 0, fractions allowed>, "currency": "usd"}`, nothing else: an unknown
 * member (a `window`, a typo) is refused rather than silently read as a lifetime cap.
 */
const ZMaxSpendClaim = z.strictObject({
  amount: z
    .number()
    .min(0)
    // amount × 10000 stays a safe integer in the micros the ledger counts.
    .max(Math.floor(Number.MAX_SAFE_INTEGER / RESOLUTION)),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/)
    .transform((code) => code.toLowerCase()),
});

const MAX_JTI_LENGTH = 256;

function invalid(problem: string): AppError {
  return new AppError("UNAUTHORIZED", "Token spend cap (spell:max_spend) is invalid", {
    reason: "invalid_max_spend",
    problem,
  });
}

const sha256 = (...parts: string[]) =>
  createHash("sha256")
    .update(parts.map((part) => `${part.length}:${part}`).join(""))
    .digest("hex");

/**
 * The `spell:max_spend` claim of a verified token, or undefined when it has none. A malformed claim
 * makes the whole token unusable (401 UNAUTHORIZED, `reason: invalid_max_spend`): a caller who
 * asked for a cap must never run uncapped.
 *
 * The spend is counted per token: under the token's `jti` (scoped to its issuer and subject, so a
 * re-issued token with the same `jti` shares one allowance) or, without a `jti`, under a hash of
 * the token's signed part (header and payload). Never of the whole token: its signature can be
 * varied without the key (base64url's unused last bits, ECDSA's s → n − s) and still verify, which
 * would mint a fresh allowance per variant.
 */
export function parseMaxSpend(payload: JWTPayload, token: string): TokenSpendCap | undefined {
  if (!Object.hasOwn(payload, MAX_SPEND_CLAIM)) return undefined;
  const parsed = ZMaxSpendClaim.safeParse(payload[MAX_SPEND_CLAIM]);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw invalid(`${where}${issue?.message ?? "invalid"}`);
  }
  const { jti } = payload;
  if (jti !== undefined && (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH)) {
    throw invalid(`jti must be a string of 1–${MAX_JTI_LENGTH} characters when the token has a spend cap`);
  }
  const key =
    jti === undefined
      ? `tok:${sha256(token.split(".").slice(0, 2).join("."))}`
      : `jti:${sha256(String(payload.iss ?? ""), String(payload.sub ?? ""), jti)}`;
  return {
    // Below the ledger's resolution a fraction cannot be spent: round down (never above the cap).
    amount: Math.floor(parsed.data.amount * RESOLUTION) / RESOLUTION,
    currency: parsed.data.currency,
    key,
    expiresAt: typeof payload.exp === "number" ? new Date(payload.exp * 1000).toISOString() : null,
  };
}
