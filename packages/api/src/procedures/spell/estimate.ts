import { estimateContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const estimateProcedure = userProcedure
  .meta(routeMeta(estimateContract))
  .input(estimateContract.input)
  .output(estimateContract.output)
  .mutation(({ ctx, input }) => ctx.engine.estimate(ctx.session, input));
