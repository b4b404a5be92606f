import type { JsonSchema, SchemaIssue, SchemaProblem, SchemaValidator } from "@spell/engine";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";

export interface SchemaValidatorOptions {
  /** Compiled validators kept (one per artifact version and role); the least recently used go first. */
  cacheSize?: number;
  /** Issues reported for one value at most (the first ones, in schema order). */
  maxIssues?: number;
}

/** The cache entry of a schema that does not compile (never published through `check`). */
const UNENFORCEABLE = Symbol("unenforceable");

const DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema";

/**
 * The ajv 8 (draft 2020-12) implementation of the engine's `SchemaValidator` port.
 *
 * - Strict schema mode: an unknown keyword (a typo such as `requird`) or a non-number where a number
 *   belongs refuses the schema at publish instead of being silently ignored.
 * - `format` is an annotation (the 2020-12 default vocabulary), never asserted.
 * - No remote `$ref`s: a schema is self-contained or refused.
 * - Each compiled schema is removed from ajv's own registry at once, so two artifact versions may
 *   carry the same `$id` and an evicted validator is really freed.
 */
export function createSchemaValidator(options: SchemaValidatorOptions = {}): SchemaValidator {
  const cacheSize = options.cacheSize ?? 1024;
  const maxIssues = options.maxIssues ?? 20;
  const ajv = new Ajv2020({
    // Strict about the schema itself (unknown keywords, non-numbers where numbers go), not about
    // style: a `properties` without `type: "object"` or an open tuple is a valid, common schema.
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allErrors: true,
    validateFormats: false,
    // Validation never changes the value the runtime receives.
    useDefaults: false,
    coerceTypes: false,
    removeAdditional: false,
  });
  // Map order is insertion order: re-inserting on a hit makes the first key the least recently used.
  const cache = new Map<string, ValidateFunction | typeof UNENFORCEABLE>();

  const compile = (schema: JsonSchema): ValidateFunction => {
    try {
      return ajv.compile(schema);
    } finally {
      if (typeof schema === "object") ajv.removeSchema(schema);
    }
  };

  const tryCompile = (schema: JsonSchema): ValidateFunction | typeof UNENFORCEABLE => {
    try {
      return compile(schema);
    } catch {
      return UNENFORCEABLE;
    }
  };

  return {
    check(schema) {
      return checkSchema(ajv, compile, schema);
    },
    validate(artifactId, role, schema, value) {
      const key = `${role}:${artifactId}`;
      let validate = cache.get(key);
      if (validate === undefined) {
        // Only a schema stored before publish checked them can fail here: it stays documentation.
        validate = tryCompile(schema);
        if (cache.size >= cacheSize) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(key, validate);
      } else if (cache.size > 1) {
        cache.delete(key);
        cache.set(key, validate);
      }
      if (validate === UNENFORCEABLE || validate(value)) return null;
      return (validate.errors ?? []).slice(0, maxIssues).map(issueOf);
    },
  };
}

function checkSchema(
  ajv: Ajv2020,
  compile: (schema: JsonSchema) => ValidateFunction,
  schema: unknown,
): SchemaProblem | null {
  if (typeof schema === "boolean") return null;
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    return { pointer: "", message: "a JSON Schema is an object or a boolean" };
  }
  const declared = (schema as Record<string, unknown>).$schema;
  if (declared !== undefined && declared !== DRAFT_2020_12 && declared !== `${DRAFT_2020_12}#`) {
    return { pointer: "/$schema", message: `only JSON Schema 2020-12 (${DRAFT_2020_12}) is supported` };
  }
  if (!ajv.validateSchema(schema)) {
    const first = ajv.errors?.[0];
    return {
      pointer: first?.instancePath ?? "",
      message: first ? `${first.message ?? "invalid"} (${first.keyword})` : "not a valid JSON Schema",
    };
  }
  try {
    compile(schema as Record<string, unknown>);
    return null;
  } catch (error) {
    return { pointer: "", message: error instanceof Error ? error.message : String(error) };
  }
}

function issueOf(error: ErrorObject): SchemaIssue {
  // `required` and `additionalProperties` name the property beside the object's own pointer.
  const params = error.params as Record<string, unknown>;
  const property =
    error.keyword === "required"
      ? params.missingProperty
      : error.keyword === "additionalProperties"
        ? params.additionalProperty
        : undefined;
  const pointer =
    typeof property === "string" ? `${error.instancePath}/${escapePointer(property)}` : error.instancePath;
  return { pointer, keyword: error.keyword, message: error.message ?? "is invalid" };
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}
