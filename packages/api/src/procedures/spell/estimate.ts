import { estimateRoute, ZEstimateInput, ZEstimateOutput } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const estimateProcedure = userProcedure
  .meta(routeMeta(estimateRoute, ["USER_BANNED", "VISIBILITY_DENIED", "SPELL_NOT_FOUND"]))
  .input(ZEstimateInput)
  .output(ZEstimateOutput)
  .mutation(({ ctx, input }) => ctx.engine.estimate(ctx.session, input));
