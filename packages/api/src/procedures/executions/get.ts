import { getExecutionContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

export const getExecutionProcedure = userProcedure
  .meta(routeMeta(getExecutionContract))
  .input(getExecutionContract.input)
  .output(getExecutionContract.output)
  .query(({ ctx, input }) => executionsOf(ctx.engine).get(ctx.session, input));
