import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { ZPublishedSpell } from "../admin/publish.ts";
import { authorRoute } from "./route.ts";

export const ZRollbackInput = z
  .object({
    slug: ZSlug,
    version: z.number().int().min(1).optional().meta({ description: "The version number (see versions)" }),
    artifactId: z.uuid().optional(),
  })
  .refine((input) => (input.version === undefined) !== (input.artifactId === undefined), {
    message: "give exactly one of version and artifactId",
    path: ["version"],
  });
export type RollbackInput = z.input<typeof ZRollbackInput>;
export const ZRollbackOutput = z.object({
  ok: z.literal(true),
  previousArtifactId: z.string(),
  version: z.number().int().min(1),
  spell: ZPublishedSpell,
});
export type RollbackOutput = z.infer<typeof ZRollbackOutput>;

export const rollbackContract = defineProcedure({
  route: authorRoute(
    "POST",
    "/spells/rollback",
    "Point a spell you own back at an earlier version; the next request, in every process, runs it",
  ),
  input: ZRollbackInput,
  output: ZRollbackOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND", "NOT_FOUND", "ARTIFACT_INVALID"],
});
export const rollbackRoute = rollbackContract.route;
