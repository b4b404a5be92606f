import { updateSpellContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const updateSpellProcedure = userProcedure
  .meta(routeMeta(updateSpellContract))
  .input(updateSpellContract.input)
  .output(updateSpellContract.output)
  .mutation(({ ctx, input }) => authorsOf(ctx.engine).update(ctx.session, input));
