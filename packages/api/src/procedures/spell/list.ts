import { listSpellsContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const listSpellsProcedure = userProcedure
  .meta(routeMeta(listSpellsContract))
  .input(listSpellsContract.input)
  .output(listSpellsContract.output)
  .query(({ ctx }) => ctx.engine.listSpells(ctx.session));
