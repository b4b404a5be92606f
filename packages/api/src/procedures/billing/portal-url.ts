import { portalUrlRoute, ZPortalUrlInput, ZUrlOutput } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const portalUrlProcedure = userProcedure
  .meta(routeMeta(portalUrlRoute, ["USER_BANNED", "BILLING_NOT_CONFIGURED"]))
  .input(ZPortalUrlInput)
  .output(ZUrlOutput)
  .mutation(({ ctx, input }) => ctx.engine.portalUrl(ctx.session, input));
