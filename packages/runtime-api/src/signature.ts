import { createHmac, timingSafeEqual } from "node:crypto";

/** The header carrying `t=<unix seconds>,v1=<hex hmac>`; modelled on Stripe's webhook signatures. */
export const SPELL_SIGNATURE_HEADER = "Spell-Signature";
export const SPELL_EXECUTION_ID_HEADER = "Spell-Execution-Id";
export const DEFAULT_SIGNATURE_TOLERANCE_SEC = 300;

/**
 * The signing secret of one spell, derived from the server key so that no per-spell secret is stored
 * and rotating the server key rotates them all. Shown once to the publisher.
 */
export function deriveSpellSigningSecret(signingKey: string, spellId: string): string {
  return createHmac("sha256", signingKey).update(`spell-signing:v1:${spellId}`).digest("hex");
}

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

/** The `Spell-Signature` value for a request body sent at `timestamp` (unix seconds). */
export function signUpstreamRequest(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

/**
 * Checks a `Spell-Signature` header against the raw body: any `v1` entry must match (several are
 * allowed so a secret can be rotated) and `t` must be within `toleranceSec` of `now` (unix seconds),
 * which bounds replays.
 */
export function verifySpellSignature(
  secret: string,
  header: string,
  body: string,
  toleranceSec: number = DEFAULT_SIGNATURE_TOLERANCE_SEC,
  now: number = Math.floor(Date.now() / 1000),
): boolean {
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(now - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), "hex");
  return candidates.some((candidate) => timingSafeEqual(Buffer.from(candidate, "hex"), expected));
}
