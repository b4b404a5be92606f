import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZExecutionView } from "./get.ts";

export const ZListExecutionsInput = z.object({
  cursor: z.string().min(1).max(200).optional().meta({ description: "`nextCursor` of the previous page" }),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: "default 50" }),
});
export const ZListExecutionsOutput = z.object({
  ok: z.literal(true),
  executions: z.array(ZExecutionView.omit({ output: true })),
  /** Pass as `cursor` for the next (older) page; null on the last one. */
  nextCursor: z.string().nullable(),
});
export type ListExecutionsOutput = z.infer<typeof ZListExecutionsOutput>;

export const listExecutionsContract = defineProcedure({
  route: {
    method: "GET",
    path: "/executions",
    summary: "Your executions, newest first, paged (outputs are read one at a time)",
    tags: ["executions"],
    access: "user",
  },
  input: ZListExecutionsInput.optional(),
  output: ZListExecutionsOutput,
  errors: ["USER_BANNED", "VALIDATION_ERROR"],
});
export const listExecutionsRoute = listExecutionsContract.route;
