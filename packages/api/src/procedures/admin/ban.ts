import { banRoute, ZBanInput, ZBanOutput } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const banProcedure = adminProcedure
  .meta(routeMeta(banRoute, ["USER_BANNED"]))
  .input(ZBanInput)
  .output(ZBanOutput)
  .mutation(({ ctx, input }) => ctx.engine.ban(ctx.session, input));
