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
        responses[status] = {
          description: codes[status] ?? "Error",
          content: { "application/json": { schema: ERROR_BODY_REF } },
        };
      }
    }
  }
  const schemas = document.components?.schemas;
  if (schemas !== undefined) {
    for (const name of Object.keys(schemas)) if (name.startsWith("error.")) delete schemas[name];
  }
  return document;
}
