import { AppError, type JsonObject } from "@spell/contracts";
import type { z } from "zod";

/** A builtin spell implementation: validated input in, JSON out. */
export interface Builtin<Schema extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  inputSchema: Schema;
  run(input: z.output<Schema>): Promise<unknown> | unknown;
}

export function defineBuiltin<Schema extends z.ZodType>(builtin: Builtin<Schema>): Builtin {
  return builtin as unknown as Builtin;
}

/** Parses a builtin's input; a bad input is the caller's fault, so a 400 with the zod issues. */
export function parseBuiltinInput(builtin: Builtin, input: JsonObject): unknown {
  const parsed = builtin.inputSchema.safeParse(input);
  if (!parsed.success) {
    throw new AppError("VALIDATION_ERROR", `Invalid input for builtin ${builtin.name}`, {
      issues: parsed.error.issues.map((issue) => ({
        path: issue.path.map(String),
        message: issue.message,
        code: issue.code,
      })),
    });
  }
  return parsed.data;
}
