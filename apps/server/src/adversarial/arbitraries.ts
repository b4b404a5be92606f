import fc from "fast-check";

/**
 * fast-check arbitraries generated from the contracts' JSON Schemas (zod's `toJSONSchema`): values
 * that fit the schema, and hostile neighbours of them — wrong types, missing and extra fields,
 * strings Postgres cannot store, numbers past float range, JSON nested far past the limit.
 */
type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  example?: unknown;
};

const SLUGS = ["echo@v1", "resize@v1", "nope@v1", "echo-paid@v1", "a@v1"];

function stringFor(schema: Schema): fc.Arbitrary<string> {
  if (schema.example !== undefined && typeof schema.example === "string") {
    return fc.oneof(fc.constant(schema.example), fc.constantFrom(...SLUGS));
  }
  if (schema.format === "uri" || schema.format === "url") {
    return fc.constantFrom("http://127.0.0.1:1/return", "https://example.com/x", "javascript:alert(1)");
  }
  if (schema.pattern === "^[a-z]{3}$") return fc.constantFrom("usd", "jpy", "eur", "xxx");
  return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) });
}

/** A value that fits `schema` (as far as a generator can tell without a validator). */
export function fitting(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return fc.oneof(...union.map(fitting));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringFor(schema);
    case "integer":
      return fc.integer({
        min: schema.minimum ?? -1_000,
        max: Math.min(schema.maximum ?? 1_000_000, 1_000_000),
      });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case "boolean":
      return fc.boolean();
    case "array":
      return fc.array(schema.items ? fitting(schema.items) : fc.jsonValue(), { maxLength: 4 });
    case "object": {
      const properties = schema.properties ?? {};
      const keys = Object.keys(properties);
      if (keys.length === 0) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }));
      const shape = Object.fromEntries(keys.map((key) => [key, fitting(properties[key] as Schema)]));
      return fc.record(shape, { requiredKeys: schema.required ?? [] });
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

/** Strings a storage layer or a parser chokes on. */
export const hostileString = fc.constantFrom(
  "\u0000",
  "a\u0000b",
  "\uD800",
  "x\uDFFF",
  "%00",
  "'; drop table users; --",
  "𝕊𝕡𝕖𝕝𝕝",
  "\u202Eevil",
  "a".repeat(5_000),
  "__proto__",
  "constructor",
);

/** JSON nested `depth` levels, built without recursion. */
export function deeplyNested(depth: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value };
  return value;
}

/** A hostile neighbour of a fitting value: one field changed, removed, or made unstorable. */
export function mutated(schema: Schema): fc.Arbitrary<unknown> {
  const base = fitting(schema);
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    hostileString,
    fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2, 0.1, -1, null, true, [], {}),
    fc.integer({ min: 100, max: 2_000 }).map(deeplyNested),
  );
  return fc
    .tuple(base, replacement, fc.nat(), fc.constantFrom("replace", "remove", "add", "whole"))
    .map(([value, other, pick, how]) => {
      if (how === "whole" || typeof value !== "object" || value === null || Array.isArray(value))
        return other;
      const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      const keys = Object.keys(copy);
      const key = keys.length > 0 ? (keys[pick % keys.length] as string) : "extra";
      if (how === "remove") delete copy[key];
      else if (how === "add") copy[typeof other === "string" ? other : `extra${pick % 7}`] = other;
      else copy[key] = other;
      return copy;
    });
}
