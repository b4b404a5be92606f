import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZAutoReload, ZBalanceOutput, ZCurrencyInput } from "./prepaid.ts";
import { billingRoute } from "./route.ts";

export const ZAutoReloadInput = z.object({
  currency: ZCurrencyInput,
  autoReload: ZAutoReload.nullable().meta({ description: "null turns auto-reload off" }),
});

export const autoReloadContract = defineProcedure({
  route: billingRoute(
    "/billing/auto-reload",
    "Prepaid mode: reload from the saved card below a threshold, with a monthly cap",
  ),
  input: ZAutoReloadInput,
  output: ZBalanceOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED", "PRICE_BELOW_MINIMUM"],
});
export const autoReloadRoute = autoReloadContract.route;
