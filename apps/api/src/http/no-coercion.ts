import type { AnyRouter } from "@trpc/server";

const COERCIBLE = new Set(["number", "boolean", "bigint", "date"]);

interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string } };
}

function isZod(value: unknown): value is ZodLike {
  return (
    typeof value === "object" &&
    value !== null &&
    "_zod" in value &&
    typeof (value as { _zod?: { def?: { type?: unknown } } })._zod?.def?.type === "string"
  );
}

function children(def: Record<string, unknown>): unknown[] {
  const found: unknown[] = [];
  for (const [key, value] of Object.entries(def)) {
    if (key === "shape" && typeof value === "object" && value !== null) found.push(...Object.values(value));
    else if (Array.isArray(value)) found.push(...value);
    else found.push(value);
  }
  return found;
}

/**
 * trpc-to-openapi 3.3 sets `def.coerce = true` on the number/boolean/date schemas of every REST
 * input it handles. Those are the contracts' shared schema objects, so after one REST call
 * `{"priceAmount": "5"}` would pass on `/trpc` and on `/api` alike. JSON bodies need no coercion:
 * each such `coerce` flag is pinned to its declared value, and the library's write is ignored.
 */
export function preventInputCoercion(router: AnyRouter): void {
  const seen = new WeakSet<object>();
  const visit = (schema: unknown): void => {
    if (!isZod(schema) || seen.has(schema)) return;
    seen.add(schema);
    const def = schema._zod.def;
    if (COERCIBLE.has(def.type)) {
      const declared = def.coerce;
      Object.defineProperty(def, "coerce", {
        get: () => declared,
        set: () => {},
        enumerable: true,
        configurable: true,
      });
    }
    for (const child of children(def)) visit(child);
  };
  for (const procedure of Object.values(router._def.procedures)) {
    const inputs = (procedure as { _def: { inputs: unknown[] } })._def.inputs;
    for (const input of inputs) visit(input);
  }
}
