import { z } from "zod";
import { defineProcedure, ZUserId } from "../../common.ts";
import { ZBanOutput } from "./ban.ts";
import { adminRoute } from "./route.ts";

export const ZUnbanInput = z.object({ userId: ZUserId });

export const unbanContract = defineProcedure({
  route: adminRoute("/admin/unban", "Lift a ban"),
  input: ZUnbanInput,
  output: ZBanOutput,
  errors: ["USER_BANNED"],
});
export const unbanRoute = unbanContract.route;
