import { unbanContract } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const unbanProcedure = adminProcedure
  .meta(routeMeta(unbanContract))
  .input(unbanContract.input)
  .output(unbanContract.output)
  .mutation(({ ctx, input }) => ctx.engine.unban(ctx.session, input));
