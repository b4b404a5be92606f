import { authorRunsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const authorRunsProcedure = userProcedure
  .meta(routeMeta(authorRunsContract))
  .input(authorRunsContract.input)
  .output(authorRunsContract.output)
  .query(({ ctx, input }) => authorsOf(ctx.engine).runs(ctx.session, input));
