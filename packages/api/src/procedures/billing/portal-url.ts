import { portalUrlContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const portalUrlProcedure = userProcedure
  .meta(routeMeta(portalUrlContract))
  .input(portalUrlContract.input)
  .output(portalUrlContract.output)
  .mutation(({ ctx, input }) => ctx.engine.portalUrl(ctx.session, input));
