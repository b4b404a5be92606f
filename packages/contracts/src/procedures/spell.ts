import { z } from "zod";
import { type RouteContract, ZCurrency, ZJsonObject, ZPrice, ZRuntime, ZVisibility } from "../common.ts";
import { ZSlug } from "../slug.ts";

export const ZIdempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

export const executeRoute = {
  method: "POST",
  path: "/spell/execute",
  summary: "Run a spell: verify, charge if priced, run its artifact, return JSON",
  tags: ["spell"],
  access: "user",
} as const satisfies RouteContract;

export const ZExecuteInput = z.object({
  spell: ZSlug,
  input: ZJsonObject.default({}).meta({ description: "The spell's input, a JSON object" }),
  idempotencyKey: ZIdempotencyKey.optional().meta({
    description: "Same as the Idempotency-Key header: a repeat returns the first result and runs nothing",
  }),
});
export type ExecuteInput = z.input<typeof ZExecuteInput>;

export const ZBillingSummary = z.object({
  charged: z.boolean(),
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

export const estimateRoute = {
  method: "POST",
  path: "/spell/estimate",
  summary: "What executing a spell would cost the caller, without running it",
  tags: ["spell"],
  access: "user",
} as const satisfies RouteContract;

export const ZEstimateInput = z.object({ spell: ZSlug });
export const ZEstimateOutput = z.object({
  ok: z.literal(true),
  spell: z.object({ slug: ZSlug, runtime: ZRuntime, visibility: ZVisibility }),
  price: ZPrice,
  paymentMethodRequired: z.boolean().meta({ description: "True when the spell is priced" }),
  paymentMethodOnFile: z.boolean(),
});
export type EstimateOutput = z.infer<typeof ZEstimateOutput>;

export const listSpellsRoute = {
  method: "GET",
  path: "/spells",
  summary: "The spells the caller may run",
  tags: ["spell"],
  access: "user",
} as const satisfies RouteContract;

export const ZListSpellsInput = z.object({});
export const ZSpellSummary = z.object({
  slug: ZSlug,
  runtime: ZRuntime,
  price: ZPrice,
  visibility: ZVisibility,
  description: z.string().nullable(),
  inputSchema: z.record(z.string(), z.unknown()).nullable().meta({ description: "JSON Schema of the input" }),
});
export const ZListSpellsOutput = z.object({ ok: z.literal(true), spells: z.array(ZSpellSummary) });
export type ListSpellsOutput = z.infer<typeof ZListSpellsOutput>;
