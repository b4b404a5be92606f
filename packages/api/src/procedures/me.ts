import { meRoute, ZMeInput, ZMeOutput } from "@spell/contracts";
import { routeMeta, sessionProcedure } from "../trpc.ts";

/** Open to banned callers too: it is how they learn their status. */
export const meProcedure = sessionProcedure
  .meta(routeMeta(meRoute))
  .input(ZMeInput.optional())
  .output(ZMeOutput)
  .query(({ ctx }) => ctx.engine.me(ctx.session));
