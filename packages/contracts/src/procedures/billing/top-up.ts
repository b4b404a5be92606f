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

export const ZRefundTopUpInput = z.object({
  paymentIntentId: z
    .string()
    .min(1)
    .max(255)
    .meta({ description: "the top-up's PaymentIntent (see history)" }),
  amount: z.number().int().min(1).optional().meta({
    description: "minor units to give back; default: all that is refundable (the unspent part)",
  }),
  idempotencyKey: ZIdempotencyKey.meta({
    description: "chosen by the client: a retry with the same key never refunds twice",
  }),
});

export const ZRefundTopUpOutput = z.object({
  ok: z.literal(true),
  paymentIntentId: z.string(),
  refundId: z.string(),
  status: z.enum(["succeeded", "pending"]),
  amount: z.number().int().meta({ description: "minor units given back on the card" }),
  currency: z.string(),
  userId: z.string(),
  balance: z.number().int().meta({ description: "micros after the refund" }),
});
export type RefundTopUpOutput = z.infer<typeof ZRefundTopUpOutput>;

/**
 * A top-up given back on the card: never more than its unspent part (what is left of it and at most
 * the balance). The owner refunds their own top-ups; an admin any user's.
 */
export const refundTopUpContract = defineProcedure({
  route: billingRoute(
    "/billing/top-ups/refund",
    "Prepaid mode: refund the unspent part of a top-up to the card (the owner, or an admin)",
  ),
  input: ZRefundTopUpInput,
  output: ZRefundTopUpOutput,
  errors: [
    "USER_BANNED",
    "BILLING_NOT_CONFIGURED",
    "NOT_FOUND",
    "VALIDATION_ERROR",
    "IDEMPOTENCY_CONFLICT",
    "BILLING_FAILED",
    "SERVICE_UNAVAILABLE",
  ],
});
export const refundTopUpRoute = refundTopUpContract.route;
