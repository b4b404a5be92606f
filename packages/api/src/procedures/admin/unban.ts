import { unbanRoute, ZBanOutput, ZUnbanInput } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const unbanProcedure = adminProcedure
  .meta(routeMeta(unbanRoute, ["USER_BANNED"]))
  .input(ZUnbanInput)
  .output(ZBanOutput)
  .mutation(({ ctx, input }) => ctx.engine.unban(ctx.session, input));
