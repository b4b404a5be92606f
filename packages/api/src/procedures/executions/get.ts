import { getExecutionContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

export const getExecutionProcedure = userProcedure
  // Before path parameters: `GET /api/executions/get?id=…`.
  .meta({ ...routeMeta(getExecutionContract), restAliases: ["/executions/get"] })
  .input(getExecutionContract.input)
  .output(getExecutionContract.output)
  .query(({ ctx, input }) => executionsOf(ctx.engine).get(ctx.session, input));
