import { z } from "zod";
import { defineProcedure, ZUserId } from "../../common.ts";
import { ZBalanceOutput, ZCurrencyInput, ZLimitValue } from "./prepaid.ts";
import { billingRoute } from "./route.ts";

export const ZSpendLimitsInput = z.object({
  currency: ZCurrencyInput,
  daily: ZLimitValue,
  monthly: ZLimitValue,
});

/** The user's own caps: they apply with the admin's, the lower one wins, so a user can only lower. */
export const spendLimitsContract = defineProcedure({
  route: billingRoute("/billing/spend-limits", "Prepaid mode: set your own daily and monthly spend caps"),
  input: ZSpendLimitsInput,
  output: ZBalanceOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED"],
});
export const spendLimitsRoute = spendLimitsContract.route;

export const ZAdminSpendLimitsInput = ZSpendLimitsInput.extend({ userId: ZUserId });

export const adminSpendLimitsContract = defineProcedure({
  route: {
    method: "POST",
    path: "/admin/spend-limits",
    summary: "Prepaid mode: set a user's daily and monthly spend ceilings",
    tags: ["admin"],
    access: "admin",
  },
  input: ZAdminSpendLimitsInput,
  output: ZBalanceOutput,
  errors: ["BILLING_NOT_CONFIGURED"],
});
export const adminSpendLimitsRoute = adminSpendLimitsContract.route;
