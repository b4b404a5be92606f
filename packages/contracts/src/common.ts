import { z } from "zod";
import type { ErrorCode } from "./errors.ts";

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

/** A JSON object: spell inputs are always objects so they can grow fields without breaking callers. */
export const ZJsonObject = z.record(z.string(), z.unknown());
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
