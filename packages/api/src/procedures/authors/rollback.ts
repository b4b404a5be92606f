import { rollbackContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const rollbackProcedure = userProcedure
  .meta(routeMeta(rollbackContract))
  .input(rollbackContract.input)
  .output(rollbackContract.output)
  .mutation(({ ctx, input }) => authorsOf(ctx.engine).rollback(ctx.session, input));
