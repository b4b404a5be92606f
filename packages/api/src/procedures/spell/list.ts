import { listSpellsRoute, ZListSpellsInput, ZListSpellsOutput } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const listSpellsProcedure = userProcedure
  .meta(routeMeta(listSpellsRoute, ["USER_BANNED"]))
  // Optional so tRPC clients may call it with no argument at all.
  .input(ZListSpellsInput.optional())
  .output(ZListSpellsOutput)
  .query(({ ctx }) => ctx.engine.listSpells(ctx.session));
