import { spellVersionsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { authorsOf } from "./authors.ts";

export const spellVersionsProcedure = userProcedure
  .meta(routeMeta(spellVersionsContract))
  .input(spellVersionsContract.input)
  .output(spellVersionsContract.output)
  .query(({ ctx, input }) => authorsOf(ctx.engine).versions(ctx.session, input));
