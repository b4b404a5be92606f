import { ZErrorBody } from "@spell/contracts";
import type { AnyRouter } from "@trpc/server";
import { generateOpenApiDocument, type OpenAPIObject, type OpenApiMeta } from "trpc-to-openapi";

const ERROR_BODY_REF = { $ref: "#/components/schemas/ErrorBody" };

/** `"post /spell/execute"` → status → the codes that route answers with it (from `routeMeta`). */
function errorDescriptions(router: AnyRouter): Map<string, Record<string, string>> {
  const byOperation = new Map<string, Record<string, string>>();
  for (const procedure of Object.values(router._def.procedures)) {
    const openapi = (procedure as { _def: { meta?: OpenApiMeta } })._def.meta?.openapi;
    if (openapi === undefined || Array.isArray(openapi.errorResponses)) continue;
    byOperation.set(`${openapi.method.toLowerCase()} ${openapi.path}`, { ...openapi.errorResponses });
  }
  return byOperation;
}

/**
 * The REST contract for non-TypeScript clients. trpc-to-openapi documents its own error body; every
 * error response is pointed at ours instead (`{"ok": false, "error": {code, message, details}}`),
 * keeping the description that lists the codes a route can answer with that status.
 */
export function createOpenApiDocument(router: AnyRouter, options: { baseUrl: string }): OpenAPIObject {
  const document = generateOpenApiDocument(router, {
    title: "Spell API",
    description:
      "Run spells: verify the caller, charge if priced, run the artifact, return JSON. " +
      "Every error answers `ErrorBody` with a stable `error.code`.",
    version: "1.0.0",
    baseUrl: options.baseUrl,
    securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    defs: { ErrorBody: ZErrorBody },
  });

  // The library caches one response object per tRPC code, so its descriptions are shared across
  // routes; each route's own list of codes is taken from its metadata instead.
  const descriptions = errorDescriptions(router);
  for (const [path, pathItem] of Object.entries(document.paths ?? {})) {
    const operations = pathItem as Record<string, { responses?: Record<string, unknown> }>;
    for (const [method, operation] of Object.entries(operations)) {
      const responses = operation.responses;
      if (responses === undefined) continue;
      const codes = descriptions.get(`${method} ${path}`) ?? {};
      for (const status of Object.keys(responses)) {
        if (status.startsWith("2")) continue;
        const description = codes[status] ?? "Error";
        responses[status] = {
          description,
          content: { "application/json": { schema: ERROR_BODY_REF, example: errorExample(description) } },
        };
      }
    }
  }
  const schemas = document.components?.schemas;
  if (schemas !== undefined) {
    for (const name of Object.keys(schemas)) if (name.startsWith("error.")) delete schemas[name];
  }
  // Every request body gets an example an agent can send as it is, built from its schema.
  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(pathItem as Record<string, OperationLike>)) {
      const content = operation.requestBody?.content?.["application/json"];
      if (content?.schema !== undefined && content.example === undefined) {
        content.example = exampleOf(
          content.schema as JsonSchemaLike,
          (schemas ?? {}) as Record<string, JsonSchemaLike>,
          0,
        );
      }
    }
  }
  return document;
}

interface OperationLike {
  requestBody?: { content?: Record<string, { schema?: unknown; example?: unknown }> };
}

interface JsonSchemaLike {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchemaLike>;
  required?: string[];
  items?: JsonSchemaLike;
  anyOf?: JsonSchemaLike[];
  oneOf?: JsonSchemaLike[];
  allOf?: JsonSchemaLike[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  example?: unknown;
  examples?: unknown[];
  minimum?: number;
  format?: string;
}

/** The error body a route answers with a status, for the first code its description lists. */
function errorExample(description: string): unknown {
  const code = /^[A-Z_]+/.exec(description)?.[0] ?? "INTERNAL_ERROR";
  return {
    ok: false,
    error: {
      code,
      message: `A ${code} refusal (see the description for every code of this status)`,
      details: {},
    },
    requestId: "3f1c0a52-7b7e-4a55-9a4e-6d2f0c1b9e21",
  };
}

/** A value that fits `schema`: its own example or default, else one built from its shape. */
function exampleOf(
  schema: JsonSchemaLike,
  components: Record<string, JsonSchemaLike>,
  depth: number,
): unknown {
  if (depth > 8) return null;
  if (schema.$ref !== undefined) {
    const target = components[schema.$ref.replace("#/components/schemas/", "")];
    return target ? exampleOf(target, components, depth + 1) : null;
  }
  if (schema.example !== undefined) return schema.example;
  if (schema.examples?.[0] !== undefined) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.[0] !== undefined) return schema.enum[0];
  const variants = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (variants?.[0] !== undefined) return exampleOf(variants[0], components, depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object": {
      const example: Record<string, unknown> = {};
      for (const key of schema.required ?? []) {
        const property = schema.properties?.[key];
        if (property) example[key] = exampleOf(property, components, depth + 1);
      }
      return example;
    }
    case "array":
      return schema.items ? [exampleOf(schema.items, components, depth + 1)] : [];
    case "integer":
    case "number":
      return schema.minimum ?? 0;
    case "boolean":
      return false;
    case "string":
      return schema.format === "uri" ? "https://example.com/return" : "string";
    default:
      return null;
  }
}
