import { z } from "zod";
import { defineProcedure, ZPrice } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { authorRoute } from "./route.ts";

export const ZSpellStatsBucket = z.object({
  slug: ZSlug,
  /** Start of the period (UTC). */
  periodStart: z.iso.datetime(),
  runs: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  /** Captured payments, per currency (minor units). */
  revenue: z.array(ZPrice),
});
export type SpellStatsBucket = z.infer<typeof ZSpellStatsBucket>;

export const ZSpellStatsInput = z.object({
  slug: ZSlug.optional().meta({ description: "One spell; default: every spell you manage" }),
  period: z.enum(["day", "month"]).default("day"),
  from: z.iso.datetime().optional(),
  to: z.iso.datetime().optional(),
});
export type SpellStatsInput = z.input<typeof ZSpellStatsInput>;
export const ZSpellStatsOutput = z.object({
  ok: z.literal(true),
  period: z.enum(["day", "month"]),
  buckets: z.array(ZSpellStatsBucket),
});
export type SpellStatsOutput = z.infer<typeof ZSpellStatsOutput>;

export const spellStatsContract = defineProcedure({
  route: authorRoute("GET", "/spells/stats", "Usage and revenue of the spells you own, per spell and period"),
  input: ZSpellStatsInput.optional(),
  output: ZSpellStatsOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND"],
});
export const spellStatsRoute = spellStatsContract.route;
