import { z } from "zod";
import { defineProcedure, ZPrice, ZRuntime, ZVisibility } from "../../common.ts";
import { ZSlug } from "../../slug.ts";

export const ZListSpellsInput = z.object({});
export const ZSpellSummary = z.object({
  slug: ZSlug,
  runtime: ZRuntime,
  price: ZPrice,
  visibility: ZVisibility,
  description: z.string().nullable(),
  inputSchema: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: "JSON Schema (2020-12) of the input, enforced before any charge or run" }),
  outputSchema: z
    .record(z.string(), z.unknown())
    .nullable()
    .meta({ description: "JSON Schema (2020-12) of the output, enforced after the run" }),
});
export const ZListSpellsOutput = z.object({ ok: z.literal(true), spells: z.array(ZSpellSummary) });
export type ListSpellsOutput = z.infer<typeof ZListSpellsOutput>;

export const listSpellsContract = defineProcedure({
  route: {
    method: "GET",
    path: "/spells",
    summary: "The spells the caller may run",
    tags: ["spell"],
    access: "user",
  },
  // Optional so tRPC clients may call it with no argument at all.
  input: ZListSpellsInput.optional(),
  output: ZListSpellsOutput,
  errors: ["USER_BANNED"],
});
export const listSpellsRoute = listSpellsContract.route;
