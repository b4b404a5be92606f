import { confirmIntentContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const confirmIntentProcedure = userProcedure
  .meta(routeMeta(confirmIntentContract))
  .input(confirmIntentContract.input)
  .output(confirmIntentContract.output)
  .mutation(({ ctx, input }) => ctx.engine.confirmIntent(ctx.session, input));
