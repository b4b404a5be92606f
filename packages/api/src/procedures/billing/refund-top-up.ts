import { refundTopUpContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const refundTopUpProcedure = userProcedure
  .meta(routeMeta(refundTopUpContract))
  .input(refundTopUpContract.input)
  .output(refundTopUpContract.output)
  .mutation(({ ctx, input }) => prepaidOf(ctx.engine).refundTopUp(ctx.session, input));
