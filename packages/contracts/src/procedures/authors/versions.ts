import { z } from "zod";
import { defineProcedure, ZRuntime } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { authorRoute } from "./route.ts";

export const ZSpellVersion = z.object({
  /** 1 for the first artifact published, in publishing order. */
  version: z.number().int().min(1),
  artifactId: z.string(),
  runtime: ZRuntime,
  /** sha256 of the wasm binary, the builtin's name or the upstream URL (hex). */
  sha256: z.string(),
  /** Who published it; null for versions published before authorship was recorded. */
  createdBy: z.string().nullable(),
  createdAt: z.iso.datetime(),
  current: z.boolean(),
});
export type SpellVersion = z.infer<typeof ZSpellVersion>;

export const ZSpellVersionsInput = z.object({ slug: ZSlug });
export const ZSpellVersionsOutput = z.object({
  ok: z.literal(true),
  slug: ZSlug,
  disabled: z.boolean(),
  versions: z.array(ZSpellVersion),
});
export type SpellVersionsOutput = z.infer<typeof ZSpellVersionsOutput>;

export const spellVersionsContract = defineProcedure({
  route: authorRoute("GET", "/spells/versions", "Every artifact version of a spell you own, oldest first"),
  input: ZSpellVersionsInput,
  output: ZSpellVersionsOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND"],
});
export const spellVersionsRoute = spellVersionsContract.route;
