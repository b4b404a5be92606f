import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZUrlOutput } from "./checkout-url.ts";
import { billingRoute } from "./route.ts";

export const ZPortalUrlInput = z.object({ returnUrl: z.url() });

export const portalUrlContract = defineProcedure({
  route: billingRoute("/billing/portal-url", "A Stripe Billing Portal URL"),
  input: ZPortalUrlInput,
  output: ZUrlOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED"],
});
export const portalUrlRoute = portalUrlContract.route;
