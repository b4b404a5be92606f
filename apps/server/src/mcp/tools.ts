import type { CallToolResult, Tool } from "@modelcontextprotocol/server";
import {
  type AppError,
  type ExecuteOutput,
  type ListSpellsOutput,
  type Price,
  toAppError,
} from "@spell/contracts";
import { toolNameOf } from "./tool-names.ts";

type SpellSummary = ListSpellsOutput["spells"][number];

/** `_meta` keys Spell puts on tools and results (and reads on `tools/call`). */
export const META = {
  slug: "spell/slug",
  runtime: "spell/runtime",
  price: "spell/price",
  visibility: "spell/visibility",
  execution: "spell/execution",
  error: "spell/error",
  /** On a `tools/call` request: the same as REST's `Idempotency-Key`. */
  idempotencyKey: "spell/idempotencyKey",
} as const;

/** `0.75 USD`, in the currency's own minor-unit exponent (JPY has none). */
export function formatPrice(price: Price): string {
  const currency = price.currency.toUpperCase();
  let digits = 2;
  try {
    digits =
      new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ??
      2;
  } catch {
    // An unknown currency code: two decimals, as most have.
  }
  return `${(price.amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

function priceSentence(price: Price): string {
  return price.amount === 0
    ? "Free."
    : `Costs ${formatPrice(price)} per call, charged to the caller's saved card (pay per use).`;
}

/** MCP requires an object schema for a tool's input; Spell inputs are JSON objects anyway. */
function objectSchema(schema: Record<string, unknown> | null): Tool["inputSchema"] {
  if (schema === null) return { type: "object", additionalProperties: true };
  if (schema.type === "object") return schema as Tool["inputSchema"];
  return { type: "object", allOf: [schema] };
}

/** One spell the caller may run, as an MCP tool (`tasks`: it may also run as a task). */
export function toolOf(spell: SpellSummary, options: { tasks?: boolean } = {}): Tool {
  const priced = spell.price.amount > 0;
  const sideEffects = priced || spell.runtime === "api";
  const tool: Tool = {
    name: toolNameOf(spell.slug),
    title: spell.slug,
    description: `${spell.description ?? `Runs the Spell ${spell.slug}.`} ${priceSentence(spell.price)}`,
    inputSchema: objectSchema(spell.inputSchema),
    annotations: {
      title: spell.slug,
      // A priced call moves money and an api spell calls an upstream: neither is read-only.
      readOnlyHint: !sideEffects,
      destructiveHint: false,
      idempotentHint: !sideEffects,
      openWorldHint: spell.runtime === "api",
    },
    _meta: {
      [META.slug]: spell.slug,
      [META.runtime]: spell.runtime,
      [META.price]: spell.price,
      [META.visibility]: spell.visibility,
    },
  };
  // 2025-11-25's per-tool task support; the SDK drops the field toward 2026-07-28 peers.
  if (options.tasks) tool.execution = { taskSupport: "optional" };
  // MCP output schemas describe `structuredContent`, which is always an object.
  if (spell.outputSchema?.type === "object") tool.outputSchema = spell.outputSchema as Tool["outputSchema"];
  return tool;
}

/** The output as `structuredContent` (objects as they are, anything else under `result`) and as text. */
export function successResult(output: ExecuteOutput): CallToolResult {
  const structured =
    output.output !== null && typeof output.output === "object" && !Array.isArray(output.output)
      ? (output.output as Record<string, unknown>)
      : { result: output.output };
  return {
    content: [{ type: "text", text: JSON.stringify(structured) }],
    structuredContent: structured,
    _meta: {
      [META.execution]: {
        executionId: output.executionId,
        spell: output.spell,
        billing: output.billing,
        durationMs: output.durationMs,
      },
    },
  };
}

export interface ErrorResultContext {
  /** Where clients reach this server (for the add-a-card instructions). */
  baseUrl: string;
}

/** A Spell error as an `isError` result: the same `{ok:false,error}` body as REST, plus guidance. */
export function errorResult(thrown: unknown, context: ErrorResultContext): CallToolResult {
  const error: AppError = toAppError(thrown);
  const body = error.toBody();
  const content: CallToolResult["content"] = [{ type: "text", text: JSON.stringify(body) }];
  const guidance = guidanceFor(error, context);
  if (guidance) content.push({ type: "text", text: guidance });
  return { isError: true, content, _meta: { [META.error]: body.error } };
}

function guidanceFor(error: AppError, { baseUrl }: ErrorResultContext): string | null {
  switch (error.code) {
    case "PAYMENT_METHOD_REQUIRED":
      return (
        "This spell is paid per use and the user has no saved card. To add one: POST " +
        `${baseUrl}/api/billing/checkout-url with the user's bearer token and ` +
        '{"successUrl": "...", "cancelUrl": "..."}; open the returned `url` in the user\'s browser, ' +
        "let them save a card, then call this tool again."
      );
    case "PAYMENT_REQUIRES_ACTION":
      return (
        "The user's bank asks for confirmation (3-D Secure). Have the user complete it with the " +
        "`clientSecret` in details, then POST " +
        `${baseUrl}/api/billing/confirm-intent {"paymentIntentId": "..."} to get the result.`
      );
    case "BILLING_FAILED":
      return "The card was declined; the user can change it through POST /api/billing/portal-url.";
    default:
      return null;
  }
}
