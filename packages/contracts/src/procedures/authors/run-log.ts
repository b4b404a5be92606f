import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { authorRoute } from "./route.ts";
import { ZAuthorRun } from "./runs.ts";

export const ZRunLogInput = z.object({ executionId: z.uuid() });
export const ZRunLogOutput = z.object({
  ok: z.literal(true),
  run: ZAuthorRun.extend({
    /** The guest's stderr (wasm) or the runtime's diagnostics, as stored; null when none. */
    log: z.string().nullable(),
    /** For a failed api run: the upstream's HTTP status when it answered one. */
    upstreamStatus: z.number().int().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }),
});
export type RunLogOutput = z.infer<typeof ZRunLogOutput>;

export const runLogContract = defineProcedure({
  route: authorRoute("GET", "/spells/runs/log", "One run of a spell you own: its log and outcome"),
  input: ZRunLogInput,
  output: ZRunLogOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "NOT_FOUND"],
});
export const runLogRoute = runLogContract.route;
