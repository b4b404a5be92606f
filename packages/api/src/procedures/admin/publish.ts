import { publishContract } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const publishProcedure = adminProcedure
  .meta(routeMeta(publishContract))
  .input(publishContract.input)
  .output(publishContract.output)
  .mutation(({ ctx, input }) => ctx.engine.publish(ctx.session, input));
