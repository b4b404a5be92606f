import { z } from "zod";
import { defineProcedure, ZCurrency, ZRuntime } from "../common.ts";
import { ZErrorCode } from "../errors.ts";
import { ZSlug } from "../slug.ts";
import { ZLedgerEntry, ZPrepaidAccount } from "./billing/prepaid.ts";

export const ZMeInput = z.object({});

export const ZExecutionStatus = z.enum([
  "queued",
  "running",
  "pending_payment",
  "succeeded",
  "failed",
  "canceled",
]);
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
  /** Prepaid mode only: the balance, caps and the latest ledger entries. */
  prepaid: z.object({ account: ZPrepaidAccount, recent: z.array(ZLedgerEntry) }).optional(),
});
export type MeOutput = z.infer<typeof ZMeOutput>;

/** Open to banned callers too: it is how they learn their status. */
export const meContract = defineProcedure({
  route: {
    method: "GET",
    path: "/me",
    summary: "The caller: status, payment method, recent usage",
    tags: ["user"],
    access: "user",
  },
  input: ZMeInput.optional(),
  output: ZMeOutput,
  errors: [],
});
export const meRoute = meContract.route;
