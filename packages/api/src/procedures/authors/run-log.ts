import { runLogContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const runLogProcedure = userProcedure
  .meta(routeMeta(runLogContract))
  .input(runLogContract.input)
  .output(runLogContract.output)
  .query(({ ctx, input }) => authorsOf(ctx.engine).runLog(ctx.session, input));
