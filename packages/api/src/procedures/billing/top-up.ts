import { topUpContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const topUpProcedure = userProcedure
  .meta(routeMeta(topUpContract))
  .input(topUpContract.input)
  .output(topUpContract.output)
  .mutation(({ ctx, input }) => prepaidOf(ctx.engine).topUp(ctx.session, input));
