import { CliError } from "./context.ts";

/** A flag holding a JSON object (`--config`, `--metadata`), or undefined when the flag is absent. */
export function parseJsonObject(flag: string, raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new CliError("USAGE", `${flag} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError("USAGE", `${flag} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** `--price`: an integer in the currency's minor units. */
export function parseAmount(value: string): number {
  if (!/^\d+$/.test(value))
    throw new CliError("USAGE", `--price is an integer in minor units, got "${value}"`);
  return Number(value);
}
