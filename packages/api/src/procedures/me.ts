import { meContract } from "@spell/contracts";
import { routeMeta, sessionProcedure } from "../trpc.ts";

/** Open to banned callers too: it is how they learn their status. */
export const meProcedure = sessionProcedure
  .meta(routeMeta(meContract))
  .input(meContract.input)
  .output(meContract.output)
  .query(({ ctx }) => ctx.engine.me(ctx.session));
