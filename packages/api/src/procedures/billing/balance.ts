import { balanceContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const balanceProcedure = userProcedure
  .meta(routeMeta(balanceContract))
  .input(balanceContract.input)
  .output(balanceContract.output)
  .query(({ ctx, input }) => prepaidOf(ctx.engine).balance(ctx.session, input));
