import { z } from "zod";
import { defineProcedure, ZCurrency, ZJsonObject, ZRuntime } from "../../common.ts";
import { ZSlug } from "../../slug.ts";

export const ZIdempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

export const ZRunWebhook = z
  .object({
    url: z.string().min(1).max(2048).meta({
      description:
        "Where run events are POSTed (HTTPS in production; refused if it resolves to a private or loopback address)",
    }),
    events: z
      .array(z.enum(["start", "completed"]))
      .min(1)
      .max(2)
      .default(["completed"])
      .meta({ description: "Which events to deliver (default: completed)" }),
  })
  .meta({
    id: "RunWebhook",
    description:
      "Signed deliveries (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature) of this run's events; makes the call asynchronous-capable (see Prefer)",
  });
export type RunWebhook = z.output<typeof ZRunWebhook>;

export const ZExecuteInput = z.object({
  spell: ZSlug,
  input: ZJsonObject.default({}).meta({ description: "The spell's input, a JSON object" }),
  idempotencyKey: ZIdempotencyKey.optional().meta({
    description: "Same as the Idempotency-Key header: a repeat returns the first result and runs nothing",
  }),
  webhook: ZRunWebhook.optional(),
  maxCost: z.number().min(0).optional().meta({
    description:
      "Prepaid mode: the most this call may cost, in minor units of the spell's currency (fractions allowed); a higher price is refused with SPEND_LIMIT_REACHED before anything runs",
  }),
});
export type ExecuteInput = z.input<typeof ZExecuteInput>;

export const ZBillingSummary = z.object({
  charged: z.boolean(),
  status: z.enum(["charged", "not_charged", "pending"]).optional().meta({
    description:
      "charged: captured; not_charged: nothing taken (or the authorization released); pending: the capture is recorded and will be carried out",
  }),
  pending: z
    .boolean()
    .optional()
    .meta({ description: "Set while the capture waits for the payment provider" }),
  amount: z.number().int().min(0),
  currency: ZCurrency,
  billingRecordId: z.string().nullable(),
});

export const ZExecuteOutput = z
  .object({
    ok: z.literal(true),
    executionId: z.string(),
    spell: z.object({ slug: ZSlug, runtime: ZRuntime }),
    output: z.unknown().meta({ description: "The artifact's JSON output" }),
    billing: ZBillingSummary,
    durationMs: z.number().int().min(0),
  })
  .meta({ id: "ExecuteResult" });
export type ExecuteOutput = z.infer<typeof ZExecuteOutput>;

/** What a run can fail with once it started, shared with confirm-intent (which finishes a run). */
export const RUN_ERRORS = [
  "RUNTIME_ERROR",
  "RUNTIME_MEMORY_LIMIT",
  "RUNTIME_OUTPUT_LIMIT",
  "RUNTIME_TIMEOUT",
] as const;

export const executeContract = defineProcedure({
  route: {
    method: "POST",
    path: "/spell/execute",
    summary: "Run a spell: verify, charge if priced, run its artifact, return JSON",
    tags: ["spell"],
    access: "user",
  },
  input: ZExecuteInput,
  output: ZExecuteOutput,
  errors: [
    "USER_BANNED",
    "VISIBILITY_DENIED",
    "SPELL_NOT_FOUND",
    "IDEMPOTENCY_CONFLICT",
    "PAYMENT_METHOD_REQUIRED",
    "BILLING_FAILED",
    "PAYMENT_REQUIRES_ACTION",
    "BILLING_NOT_CONFIGURED",
    "INSUFFICIENT_BALANCE",
    "SPEND_LIMIT_REACHED",
    "RATE_LIMITED",
    ...RUN_ERRORS,
  ],
  headers: z.object({
    "idempotency-key": ZIdempotencyKey.optional().meta({
      description:
        "A repeat with the same key returns the first result and runs nothing; a body idempotencyKey wins",
    }),
  }),
});
export const executeRoute = executeContract.route;
