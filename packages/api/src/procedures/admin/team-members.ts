import { teamMembersContract } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const teamMembersProcedure = adminProcedure
  .meta(routeMeta(teamMembersContract))
  .input(teamMembersContract.input)
  .output(teamMembersContract.output)
  .mutation(({ ctx, input }) => ctx.engine.setTeamMembership(ctx.session, input));
