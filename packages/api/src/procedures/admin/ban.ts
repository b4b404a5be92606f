import { banContract } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const banProcedure = adminProcedure
  .meta(routeMeta(banContract))
  .input(banContract.input)
  .output(banContract.output)
  .mutation(({ ctx, input }) => ctx.engine.ban(ctx.session, input));
