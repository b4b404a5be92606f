import { autoReloadContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { prepaidOf } from "./prepaid.ts";

export const autoReloadProcedure = userProcedure
  .meta(routeMeta(autoReloadContract))
  .input(autoReloadContract.input)
  .output(autoReloadContract.output)
  .mutation(({ ctx, input }) => prepaidOf(ctx.engine).setAutoReload(ctx.session, input));
