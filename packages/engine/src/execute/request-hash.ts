import { createHash } from "node:crypto";

/** JSON with object keys sorted, so two encodings of the same input hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(",")}}`;
}

/** Identifies what an idempotency key was first used for: the spell and the exact input. */
export function hashExecutionRequest(slug: string, input: unknown): string {
  return createHash("sha256").update(slug).update("\n").update(canonicalJson(input)).digest("hex");
}
