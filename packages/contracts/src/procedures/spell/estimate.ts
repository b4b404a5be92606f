import { z } from "zod";
import { defineProcedure, ZPrice, ZRuntime, ZVisibility } from "../../common.ts";
import { ZSlug } from "../../slug.ts";

export const ZEstimateInput = z.object({ spell: ZSlug });
export const ZEstimateOutput = z.object({
  ok: z.literal(true),
  spell: z.object({ slug: ZSlug, runtime: ZRuntime, visibility: ZVisibility }),
  price: ZPrice,
  paymentMethodRequired: z.boolean().meta({ description: "True when the spell is priced" }),
  paymentMethodOnFile: z.boolean(),
});
export type EstimateOutput = z.infer<typeof ZEstimateOutput>;

export const estimateContract = defineProcedure({
  route: {
    method: "POST",
    path: "/spell/estimate",
    summary: "What executing a spell would cost the caller, without running it",
    tags: ["spell"],
    access: "user",
  },
  input: ZEstimateInput,
  output: ZEstimateOutput,
  errors: ["USER_BANNED", "VISIBILITY_DENIED", "SPELL_NOT_FOUND"],
});
export const estimateRoute = estimateContract.route;
