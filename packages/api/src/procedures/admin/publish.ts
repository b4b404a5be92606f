import { publishRoute, ZPublishInput, ZPublishOutput } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const publishProcedure = adminProcedure
  .meta(routeMeta(publishRoute, ["USER_BANNED", "ARTIFACT_INVALID", "PRICE_BELOW_MINIMUM"]))
  .input(ZPublishInput)
  .output(ZPublishOutput)
  .mutation(({ ctx, input }) => ctx.engine.publish(ctx.session, input));
