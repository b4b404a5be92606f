import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { billingRoute } from "./route.ts";

export const ZCheckoutUrlInput = z.object({ successUrl: z.url(), cancelUrl: z.url() });
export const ZUrlOutput = z.object({ ok: z.literal(true), url: z.string() });

export const checkoutUrlContract = defineProcedure({
  route: billingRoute("/billing/checkout-url", "A Stripe Checkout (setup mode) URL to save a card"),
  input: ZCheckoutUrlInput,
  output: ZUrlOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED"],
});
export const checkoutUrlRoute = checkoutUrlContract.route;
