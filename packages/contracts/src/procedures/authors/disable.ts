import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { ZPublishedSpell, ZSpellField } from "../admin/publish.ts";
import { authorRoute } from "./route.ts";

export const ZDisableSpellInput = z.object({
  slug: ZSlug,
  disabled: z.boolean().default(true).meta({ description: "false enables the spell again" }),
});
export type DisableSpellInput = z.input<typeof ZDisableSpellInput>;
export const ZDisableSpellOutput = z.object({
  ok: z.literal(true),
  changed: z.array(ZSpellField),
  spell: ZPublishedSpell,
});
export type DisableSpellOutput = z.infer<typeof ZDisableSpellOutput>;

export const disableSpellContract = defineProcedure({
  route: authorRoute(
    "POST",
    "/spells/disable",
    "Unpublish (or enable again) a spell you own: execute answers 404 SPELL_DISABLED; history and records are kept",
  ),
  input: ZDisableSpellInput,
  output: ZDisableSpellOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND"],
});
export const disableSpellRoute = disableSpellContract.route;
