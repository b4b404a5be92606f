import { disableSpellContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const disableSpellProcedure = userProcedure
  .meta(routeMeta(disableSpellContract))
  .input(disableSpellContract.input)
  .output(disableSpellContract.output)
  .mutation(({ ctx, input }) => authorsOf(ctx.engine).disable(ctx.session, input));
