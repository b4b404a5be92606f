import { z } from "zod";
import { defineProcedure, ZTeamId, ZUserId } from "../../common.ts";
import { adminRoute } from "./route.ts";

export const ZTeamMembersInput = z.object({
  teamId: ZTeamId,
  userId: ZUserId,
  action: z.enum(["add", "remove"]),
});
export const ZTeamMembersOutput = z.object({
  ok: z.literal(true),
  teamId: z.string(),
  userId: z.string(),
  member: z.boolean(),
});

export const teamMembersContract = defineProcedure({
  route: adminRoute("/admin/teams/members", "Add or remove a team member"),
  input: ZTeamMembersInput,
  output: ZTeamMembersOutput,
  errors: ["USER_BANNED"],
});
export const teamMembersRoute = teamMembersContract.route;
