import { z } from "zod";
import { defineProcedure, ZCurrency, ZJsonObject, ZTeamId, ZVisibility } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { ZPublishedSpell, ZSpellField } from "../admin/publish.ts";
import { authorRoute } from "./route.ts";

/** Only the fields given change; the artifact and its config change only by publishing. */
export const ZUpdateSpellInput = z.object({
  slug: ZSlug,
  visibility: ZVisibility.optional(),
  teamId: ZTeamId.nullable().optional().meta({ description: "null removes the owning team" }),
  priceAmount: z.number().int().min(0).max(100_000_000).optional(),
  currency: ZCurrency.optional(),
  metadata: ZJsonObject.optional().meta({
    description: "Replaces the metadata (a new version, same artifact)",
  }),
  inputSchema: z
    .unknown()
    .optional()
    .meta({ description: "JSON Schema 2020-12; a new version, same artifact" }),
  outputSchema: z
    .unknown()
    .optional()
    .meta({ description: "JSON Schema 2020-12; a new version, same artifact" }),
});
export type UpdateSpellInput = z.input<typeof ZUpdateSpellInput>;
export const ZUpdateSpellOutput = z.object({
  ok: z.literal(true),
  changed: z.array(ZSpellField),
  spell: ZPublishedSpell,
});
export type UpdateSpellOutput = z.infer<typeof ZUpdateSpellOutput>;

export const updateSpellContract = defineProcedure({
  route: authorRoute(
    "POST",
    "/spells/update",
    "Change a spell's visibility, team, price, metadata or schemas — only the fields given; runs already charged keep their price",
  ),
  input: ZUpdateSpellInput,
  output: ZUpdateSpellOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND", "ARTIFACT_INVALID", "PRICE_BELOW_MINIMUM"],
});
export const updateSpellRoute = updateSpellContract.route;
