import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { authorRoute } from "./route.ts";

export const ZShareIdentityInput = z.object({ share: z.boolean() });
export const ZShareIdentityOutput = z.object({ ok: z.literal(true), share: z.boolean() });
export type ShareIdentityOutput = z.infer<typeof ZShareIdentityOutput>;

export const shareIdentityContract = defineProcedure({
  route: authorRoute(
    "POST",
    "/me/share-identity",
    "Whether the authors of the spells you run may see your user id in their runs (default: no)",
  ),
  input: ZShareIdentityInput,
  output: ZShareIdentityOutput,
  errors: ["USER_BANNED"],
});
export const shareIdentityRoute = shareIdentityContract.route;
