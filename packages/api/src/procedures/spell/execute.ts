import { executeContract, ZExecuteAccepted } from "@spell/contracts";
import { asyncOptionsOf, headerIdempotencyKey, publicProcedure, routeMeta } from "../../trpc.ts";
import { executionsOf } from "../executions/operations.ts";

/**
 * Built on the public procedure on purpose: the token check is the first step of the engine's
 * pipeline, so this route does exactly one thing per request and the hot path stays short. With
 * `Prefer: respond-async` / `wait=N` the run is queued (issue 13) and the answer may be the
 * accepted execution (REST: 202 with `Location`); without it nothing else is touched.
 */
export const executeProcedure = publicProcedure
  .meta(routeMeta(executeContract))
  .input(executeContract.input)
  .output(executeContract.output.or(ZExecuteAccepted))
  .mutation(({ ctx, input }) => {
    const request = { ...input, idempotencyKey: input.idempotencyKey ?? headerIdempotencyKey(ctx) };
    const asyncOptions = ctx.prefer === undefined ? null : asyncOptionsOf(ctx);
    if (asyncOptions === null) return ctx.engine.executeSpell(ctx.authorization, request);
    return executionsOf(ctx.engine).executeAsync(ctx.authorization, request, asyncOptions);
  });
