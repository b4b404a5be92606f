import { checkoutUrlRoute, ZCheckoutUrlInput, ZUrlOutput } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const checkoutUrlProcedure = userProcedure
  .meta(routeMeta(checkoutUrlRoute, ["USER_BANNED", "BILLING_NOT_CONFIGURED"]))
  .input(ZCheckoutUrlInput)
  .output(ZUrlOutput)
  .mutation(({ ctx, input }) => ctx.engine.checkoutUrl(ctx.session, input));
