import { z } from "zod";
import { defineProcedure, ZUserId } from "../../common.ts";
import { adminRoute } from "./route.ts";

export const ZBanInput = z.object({ userId: ZUserId, reason: z.string().min(1).max(1000) });
export const ZBanOutput = z.object({
  ok: z.literal(true),
  userId: z.string(),
  status: z.enum(["active", "banned"]),
});

export const banContract = defineProcedure({
  route: adminRoute("/admin/ban", "Ban a user: nothing of theirs is charged or run"),
  input: ZBanInput,
  output: ZBanOutput,
  errors: ["USER_BANNED"],
});
export const banRoute = banContract.route;
