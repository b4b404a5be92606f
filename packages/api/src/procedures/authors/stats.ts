import { spellStatsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const spellStatsProcedure = userProcedure
  .meta(routeMeta(spellStatsContract))
  .input(spellStatsContract.input)
  .output(spellStatsContract.output)
  .query(({ ctx, input }) => authorsOf(ctx.engine).stats(ctx.session, input));
