import { cancelExecutionContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

export const cancelExecutionProcedure = userProcedure
  // Before path parameters: `POST /api/executions/cancel` with `{"id": …}`.
  .meta({ ...routeMeta(cancelExecutionContract), restAliases: ["/executions/cancel"] })
  .input(cancelExecutionContract.input)
  .output(cancelExecutionContract.output)
  .mutation(({ ctx, input }) => executionsOf(ctx.engine).cancel(ctx.session, input));
