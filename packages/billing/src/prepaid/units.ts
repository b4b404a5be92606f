import { MICROS_PER_MINOR_UNIT, type Price } from "@spell/contracts";
import type { SpellRecord } from "@spell/engine";

export { MICROS_PER_MINOR_UNIT };

/**
 * What a spell costs in prepaid mode, in micros (1/10000 of the minor unit). A publisher sets a
 * sub-cent price with `metadata.priceMicros` (a positive integer; e.g. 500 = 0.05¢) next to a
 * `priceAmount` of at least 1 (what makes the spell priced, and what per-use mode would charge);
 * without it the price is `priceAmount` minor units.
 */
export function priceMicros(spell: SpellRecord, price: Price): number {
  const declared = spell.artifact.metadata.priceMicros;
  if (typeof declared === "number" && Number.isSafeInteger(declared) && declared > 0) return declared;
  return price.amount * MICROS_PER_MINOR_UNIT;
}

/** `YYYY-MM-DD` of the UTC day of `now`. */
export function utcDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/** `YYYY-MM-01` of the UTC month of `now`. */
export function utcMonth(now: Date): string {
  return `${now.toISOString().slice(0, 7)}-01`;
}

/** When the daily counter starts again: the next UTC midnight. */
export function nextUtcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

/** When the monthly counter starts again: the first of the next UTC month. */
export function nextUtcMonth(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}
