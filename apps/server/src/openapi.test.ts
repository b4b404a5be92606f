import * as contracts from "@spell/contracts";
import { ERROR_CODES, type RouteContract } from "@spell/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;
// biome-ignore lint/suspicious/noExplicitAny: the document is arbitrary JSON
let doc: any;
beforeAll(async () => {
  h = await startHarness();
  const response = await h.call("GET", "/api/openapi.json");
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(() => h?.close());

/** Every route the contracts declare, found by shape so a new route cannot be forgotten here. */
const ROUTES = Object.entries(contracts as Record<string, unknown>).filter(
  (entry): entry is [string, RouteContract] =>
    entry[0].endsWith("Route") && typeof entry[1] === "object" && entry[1] !== null && "path" in entry[1],
);

describe("GET /api/openapi.json", () => {
  it("is an OpenAPI 3.1 document served under /api", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: "/api" }]);
  });

  it("describes every contract route with its method", () => {
    expect(ROUTES.length).toBeGreaterThanOrEqual(11);
    for (const [name, route] of ROUTES) {
      const operation = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation, `${name} ${route.method} ${route.path}`).toBeDefined();
      expect(operation.summary).toBe(route.summary);
      expect(operation.security).toEqual([{ bearerAuth: [] }]);
    }
    // Plus the Stripe webhook, documented by hand: it reads raw signed bytes, not a tRPC input.
    expect(Object.keys(doc.paths).sort()).toEqual(
      [...new Set([...ROUTES.map(([, r]) => r.path), "/billing/webhook"])].sort(),
    );
  });

  it("documents the Stripe webhook with its signature header and answers", () => {
    const webhook = doc.paths["/billing/webhook"].post;
    expect(webhook.parameters).toEqual([
      expect.objectContaining({ name: "Stripe-Signature", in: "header", required: true }),
    ]);
    expect(webhook.responses["200"].content["application/json"].schema.required).toEqual([
      "ok",
      "received",
      "duplicate",
    ]);
    expect(webhook.responses["400"].description).toContain("VALIDATION_ERROR");
  });

  it("documents bearer JWT auth", () => {
    expect(doc.components.securitySchemes).toEqual({
      bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
    });
  });

  it("points every error response at our ErrorBody", () => {
    const errorBody = doc.components.schemas.ErrorBody;
    expect(errorBody.properties.ok).toMatchObject({ const: false });
    expect(errorBody.properties.error.properties.code.enum).toEqual(ERROR_CODES);
    expect(errorBody.required).toEqual(expect.arrayContaining(["ok", "error"]));
    expect(Object.keys(doc.components.schemas).filter((name) => name.startsWith("error."))).toEqual([]);

    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item as Record<string, { responses: object }>)) {
        const errors = Object.entries(operation.responses).filter(([status]) => !status.startsWith("2"));
        expect(errors.length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [status, response] of errors) {
          expect(response, `${method} ${path} ${status}`).toEqual({
            description: expect.any(String),
            content: {
              "application/json": expect.objectContaining({
                schema: { $ref: "#/components/schemas/ErrorBody" },
              }),
            },
          });
        }
      }
    }
  });

  it("lists the error codes a route answers under their status", () => {
    const execute = doc.paths["/spell/execute"].post.responses;
    expect(execute["401"].description).toContain("UNAUTHORIZED");
    expect(execute["403"].description).toEqual(expect.stringContaining("USER_BANNED"));
    expect(execute["403"].description).toEqual(expect.stringContaining("VISIBILITY_DENIED"));
    expect(execute["409"].description).toContain("IDEMPOTENCY_CONFLICT");
    expect(doc.paths["/admin/ban"].post.responses["403"].description).toContain("FORBIDDEN");
  });

  it("describes the execute request and success bodies from the contracts", () => {
    const post = doc.paths["/spell/execute"].post;
    const request = post.requestBody.content["application/json"].schema;
    expect(request.required).toContain("spell");
    expect(Object.keys(request.properties)).toEqual(
      expect.arrayContaining(["spell", "input", "idempotencyKey"]),
    );
    expect(post.responses["200"]).toBeDefined();
    expect(post.parameters).toEqual([expect.objectContaining({ in: "header", name: "idempotency-key" })]);
  });

  it("shows executions by path parameter, and not the older ?id= / body aliases", () => {
    const read = doc.paths["/executions/{id}"]?.get;
    expect(read).toBeDefined();
    expect(read.parameters).toEqual([expect.objectContaining({ in: "path", name: "id", required: true })]);
    const cancel = doc.paths["/executions/{id}/cancel"]?.post;
    expect(cancel).toBeDefined();
    expect(cancel.parameters).toEqual([expect.objectContaining({ in: "path", name: "id", required: true })]);
    expect(doc.paths["/executions/get"]).toBeUndefined();
    expect(doc.paths["/executions/cancel"]).toBeUndefined();
  });
});
