import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZIdempotencyKey } from "../spell/execute.ts";
import { ZCurrencyInput } from "./prepaid.ts";
import { billingRoute } from "./route.ts";

export const ZTopUpInput = z.object({
  amount: z.number().int().min(1).meta({
    description: "minor units charged to the saved card, at least the currency's minimum charge",
  }),
  currency: ZCurrencyInput,
  idempotencyKey: ZIdempotencyKey.meta({
    description: "chosen by the client: a retry with the same key never charges the card twice",
  }),
});

export const ZTopUpOutput = z.object({
  ok: z.literal(true),
  paymentIntentId: z.string(),
  status: z.enum(["succeeded", "processing", "requires_action"]),
  /** Whether this answer credited the balance (false when the webhook already had, or not yet). */
  credited: z.boolean(),
  balance: z.number().int().meta({ description: "micros after the top-up" }),
  clientSecret: z.string().nullable().optional(),
});
export type TopUpOutput = z.infer<typeof ZTopUpOutput>;

export const topUpContract = defineProcedure({
  route: billingRoute("/billing/top-up", "Prepaid mode: charge the saved card and credit the balance"),
  input: ZTopUpInput,
  output: ZTopUpOutput,
  errors: [
    "USER_BANNED",
    "BILLING_NOT_CONFIGURED",
    "PAYMENT_METHOD_REQUIRED",
    "BILLING_FAILED",
    "PRICE_BELOW_MINIMUM",
  ],
});
export const topUpRoute = topUpContract.route;
