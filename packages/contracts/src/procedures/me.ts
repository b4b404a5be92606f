import { z } from "zod";
import { type RouteContract, ZCurrency, ZRuntime } from "../common.ts";
import { ZErrorCode } from "../errors.ts";
import { ZSlug } from "../slug.ts";

export const meRoute = {
  method: "GET",
  path: "/me",
  summary: "The caller: status, payment method, recent usage",
  tags: ["user"],
  access: "user",
} as const satisfies RouteContract;

export const ZMeInput = z.object({});

export const ZExecutionStatus = z.enum(["running", "pending_payment", "succeeded", "failed"]);
export type ExecutionStatus = z.infer<typeof ZExecutionStatus>;

export const ZUsageEntry = z.object({
  executionId: z.string(),
  slug: ZSlug,
  runtime: ZRuntime,
  status: ZExecutionStatus,
  errorCode: ZErrorCode.nullable(),
  amount: z.number().int(),
  currency: ZCurrency,
  durationMs: z.number().int().nullable(),
  createdAt: z.string().meta({ description: "ISO 8601" }),
});

export const ZMeOutput = z.object({
  ok: z.literal(true),
  user: z.object({
    id: z.string(),
    status: z.enum(["active", "banned"]),
    hasPaymentMethod: z.boolean(),
    createdAt: z.string(),
  }),
  usage: z.object({
    totalExecutions: z.number().int(),
    totalCharged: z.array(z.object({ currency: ZCurrency, amount: z.number().int() })),
    recent: z.array(ZUsageEntry),
  }),
});
export type MeOutput = z.infer<typeof ZMeOutput>;
