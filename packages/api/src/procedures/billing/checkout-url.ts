import { checkoutUrlContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const checkoutUrlProcedure = userProcedure
  .meta(routeMeta(checkoutUrlContract))
  .input(checkoutUrlContract.input)
  .output(checkoutUrlContract.output)
  .mutation(({ ctx, input }) => ctx.engine.checkoutUrl(ctx.session, input));
