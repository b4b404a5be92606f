import { adminSpendLimitsContract } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const adminSpendLimitsProcedure = adminProcedure
  .meta(routeMeta(adminSpendLimitsContract))
  .input(adminSpendLimitsContract.input)
  .output(adminSpendLimitsContract.output)
  .mutation(({ ctx, input }) => prepaidOf(ctx.engine).adminSetSpendLimits(ctx.session, input));
