import { z } from "zod";
import type { ErrorCode } from "./errors.ts";
import { DEFAULT_JSON_BOUNDS, findJsonBoundsViolation, type JsonBounds } from "./json-bounds.ts";

export const RUNTIMES = ["builtin", "api", "wasm"] as const;
export const ZRuntime = z.enum(RUNTIMES);
export type RuntimeKind = z.infer<typeof ZRuntime>;

export const VISIBILITIES = ["public", "team", "private"] as const;
export const ZVisibility = z.enum(VISIBILITIES);
export type Visibility = z.infer<typeof ZVisibility>;

/** ISO 4217, lowercase as Stripe writes it. */
export const ZCurrency = z.string().regex(/^[a-z]{3}$/, "a three-letter lowercase ISO 4217 code, e.g. usd");

/** An amount in the currency's minor unit (cents for usd, yen for jpy). */
export const ZPrice = z.object({ amount: z.number().int().min(0), currency: ZCurrency });
export type Price = z.infer<typeof ZPrice>;

/** The bounds every accepted JSON value is held to; the server may set them once at start. */
const jsonBounds: JsonBounds = { ...DEFAULT_JSON_BOUNDS };

/** Sets the JSON bounds for this process (the server's configuration, read once at start). */
export function configureJsonBounds(bounds: Partial<JsonBounds>): void {
  if (bounds.maxDepth !== undefined) {
    if (!Number.isInteger(bounds.maxDepth) || bounds.maxDepth < 1) {
      throw new RangeError("JSON maxDepth must be a positive integer");
    }
    jsonBounds.maxDepth = bounds.maxDepth;
  }
}

/** The bounds in force (for runtime outputs, which are checked with the same rules). */
export function currentJsonBounds(): JsonBounds {
  return jsonBounds;
}

/**
 * A JSON object: spell inputs are always objects so they can grow fields without breaking callers.
 * It must also be storable and bounded (see json-bounds.ts): refused with the path of the first
 * offending value, before any row, charge or run.
 */
export const ZJsonObject = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const violation = findJsonBoundsViolation(value, jsonBounds);
  if (violation !== null) {
    ctx.addIssue({
      code: "custom",
      path: violation.path,
      message: `Value ${violation.message}`,
      params: { reason: violation.reason },
    });
  }
});
export type JsonObject = z.infer<typeof ZJsonObject>;

export const ZUserId = z.string().min(1).max(255).meta({ description: "The JWT `sub` of the user" });
export const ZTeamId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-'");

/** Every procedure's metadata: the REST route it is also exposed as, and who may call it. */
export interface RouteContract {
  method: "GET" | "POST";
  path: `/${string}`;
  summary: string;
  tags: string[];
  access: "user" | "admin";
}

/**
 * One procedure, declared in one place: its route, input and output schemas, the error codes it can
 * answer beyond the ones every route can, and the request headers it reads. The router implements
 * it; the OpenAPI document, the REST table and the SDK's types are derived from it.
 */
export interface ProcedureContract<
  Input extends z.ZodType = z.ZodType,
  Output extends z.ZodType = z.ZodType,
> {
  route: RouteContract;
  input: Input;
  output: Output;
  errors: readonly ErrorCode[];
  headers?: z.ZodObject;
}

export function defineProcedure<Input extends z.ZodType, Output extends z.ZodType>(
  contract: ProcedureContract<Input, Output>,
): ProcedureContract<Input, Output> {
  return contract;
}
