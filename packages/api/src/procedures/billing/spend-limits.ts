import { spendLimitsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const spendLimitsProcedure = userProcedure
  .meta(routeMeta(spendLimitsContract))
  .input(spendLimitsContract.input)
  .output(spendLimitsContract.output)
  .mutation(({ ctx, input }) => prepaidOf(ctx.engine).setSpendLimits(ctx.session, input));
