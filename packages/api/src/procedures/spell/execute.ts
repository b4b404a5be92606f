import { executeContract } from "@spell/contracts";
import { headerIdempotencyKey, publicProcedure, routeMeta } from "../../trpc.ts";

/**
 * Built on the public procedure on purpose: the token check is the first step of the engine's
 * pipeline, so this route does exactly one thing per request and the hot path stays short.
 */
export const executeProcedure = publicProcedure
  .meta(routeMeta(executeContract))
  .input(executeContract.input)
  .output(executeContract.output)
  .mutation(({ ctx, input }) =>
    ctx.engine.executeSpell(ctx.authorization, {
      ...input,
      idempotencyKey: input.idempotencyKey ?? headerIdempotencyKey(ctx),
    }),
  );
