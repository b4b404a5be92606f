import { randomBytes } from "node:crypto";

/** Seconds since the epoch, Stripe's `created`. */
export const now = () => Math.floor(Date.now() / 1000);

export const randomHex = (bytes: number) => randomBytes(bytes).toString("hex");

export interface Ids {
  /** `pi_…`, or `pi_<tag>_…` when the simulation is tagged (so its ids never pass for real ones). */
  next(prefix: string): string;
  /** Checkout sessions carry the mode in their id like Stripe's (`cs_test_…`), or the tag. */
  checkoutSession(): string;
}

export function createIds(tag: string | undefined): Ids {
  // Letters and digits only, like Stripe's ids, so they survive any URL or regex unescaped.
  const random = () => randomBytes(12).toString("base64url").replace(/[-_]/g, "x");
  return {
    next: (prefix) => (tag ? `${prefix}_${tag}_${random()}` : `${prefix}_${random()}`),
    checkoutSession: () => `cs_${tag ?? "test"}_${random()}`,
  };
}
