import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { RUN_ERRORS, ZExecuteOutput } from "../spell/execute.ts";
import { billingRoute } from "./route.ts";

export const ZConfirmIntentInput = z.object({ paymentIntentId: z.string().min(1).max(255) });

export const confirmIntentContract = defineProcedure({
  route: billingRoute("/billing/confirm-intent", "Finish an execution whose payment needed customer action"),
  input: ZConfirmIntentInput,
  output: ZExecuteOutput,
  errors: [
    "USER_BANNED",
    "BILLING_NOT_CONFIGURED",
    "BILLING_FAILED",
    "PAYMENT_REQUIRES_ACTION",
    "FORBIDDEN",
    "NOT_FOUND",
    "SPELL_NOT_FOUND",
    ...RUN_ERRORS,
  ],
});
export const confirmIntentRoute = confirmIntentContract.route;
