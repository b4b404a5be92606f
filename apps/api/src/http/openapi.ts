import { ZErrorBody } from "@spell/contracts";
import type { AnyRouter } from "@trpc/server";
import { generateOpenApiDocument, type OpenAPIObject } from "trpc-to-openapi";

const ERROR_BODY_REF = { $ref: "#/components/schemas/ErrorBody" };

interface ResponseLike {
  description?: string;
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

  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(
      pathItem as Record<string, { responses?: Record<string, unknown> }>,
    )) {
      const responses = operation.responses;
      if (responses === undefined) continue;
      for (const [status, response] of Object.entries(responses)) {
        if (status.startsWith("2")) continue;
        responses[status] = {
          description: (response as ResponseLike).description ?? "Error",
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
