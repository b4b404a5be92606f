import { teamMembersRoute, ZTeamMembersInput, ZTeamMembersOutput } from "@spell/contracts";
import { adminProcedure, routeMeta } from "../../trpc.ts";

export const teamMembersProcedure = adminProcedure
  .meta(routeMeta(teamMembersRoute, ["USER_BANNED"]))
  .input(ZTeamMembersInput)
  .output(ZTeamMembersOutput)
  .mutation(({ ctx, input }) => ctx.engine.setTeamMembership(ctx.session, input));
