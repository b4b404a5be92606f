import { listExecutionsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

export const listExecutionsProcedure = userProcedure
  .meta(routeMeta(listExecutionsContract))
  .input(listExecutionsContract.input)
  .output(listExecutionsContract.output)
  .query(({ ctx, input }) => executionsOf(ctx.engine).list(ctx.session, input));
