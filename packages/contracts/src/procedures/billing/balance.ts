import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZBalanceOutput, ZCurrencyInput } from "./prepaid.ts";

export const ZBalanceInput = z.object({ currency: ZCurrencyInput });

export const balanceContract = defineProcedure({
  route: {
    method: "GET",
    path: "/billing/balance",
    summary: "Prepaid mode: the balance, spend caps and recent ledger entries",
    tags: ["billing"],
    access: "user",
  },
  input: ZBalanceInput.optional(),
  output: ZBalanceOutput,
  errors: ["USER_BANNED", "BILLING_NOT_CONFIGURED"],
});
export const balanceRoute = balanceContract.route;
