import { cancelExecutionContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

export const cancelExecutionProcedure = userProcedure
  .meta(routeMeta(cancelExecutionContract))
  .input(cancelExecutionContract.input)
  .output(cancelExecutionContract.output)
  .mutation(({ ctx, input }) => executionsOf(ctx.engine).cancel(ctx.session, input));
