import { historyContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const historyProcedure = userProcedure
  .meta(routeMeta(historyContract))
  .input(historyContract.input)
  .output(historyContract.output)
  .query(({ ctx, input }) => prepaidOf(ctx.engine).history(ctx.session, input));
