import { ERROR_STATUS, executeContract } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createOpenApiDocument } from "./openapi.ts";
import { appRouter } from "./procedures/index.ts";

type Operation = {
  requestBody?: { content?: Record<string, { example?: unknown }> };
  responses?: Record<string, { content?: Record<string, { example?: unknown }> }>;
};

const document = createOpenApiDocument(appRouter, { baseUrl: "http://127.0.0.1:8787/api" });
const operations = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
  Object.entries(item as Record<string, Operation>).map(([method, operation]) => ({
    path,
    method,
    operation,
  })),
);

describe("the OpenAPI document's examples", () => {
  it("gives every request body an example", () => {
    const bodies = operations.filter(({ operation }) => operation.requestBody !== undefined);
    expect(bodies.length).toBeGreaterThan(10);
    for (const { path, method, operation } of bodies) {
      expect(
        operation.requestBody?.content?.["application/json"]?.example,
        `${method} ${path}`,
      ).toBeDefined();
    }
  });

  it("gives every error response an example in the unified body, with a code of that status", () => {
    let checked = 0;
    for (const { path, method, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status.startsWith("2")) continue;
        const example = response.content?.["application/json"]?.example as {
          ok: boolean;
          error: { code: keyof typeof ERROR_STATUS; details: object };
        };
        expect(example?.ok, `${method} ${path} ${status}`).toBe(false);
        expect(ERROR_STATUS[example.error.code], `${method} ${path} ${status}`).toBe(Number(status));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it("makes the execute example a valid execute input", () => {
    const execute = operations.find(({ path, method }) => path === "/spell/execute" && method === "post");
    const example = execute?.operation.requestBody?.content?.["application/json"]?.example;
    expect(executeContract.input.safeParse(example).success).toBe(true);
  });
});
