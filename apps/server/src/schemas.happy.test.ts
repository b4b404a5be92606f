import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;

const INPUT = {
  type: "object",
  properties: { name: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
  required: ["name"],
  additionalProperties: false,
};
const OUTPUT = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };

beforeAll(async () => {
  h = await startHarness();
  await h.publish({
    slug: "typed-echo@v1",
    runtime: "builtin",
    artifact: { builtin: "echo" },
    inputSchema: INPUT,
    outputSchema: OUTPUT,
    metadata: { description: "Echo with schemas" },
  });
});
afterAll(() => h?.close());

describe("declared schemas, exposed", () => {
  it("GET /api/spells shows the input and output schemas", async () => {
    const caller = await h.user();
    const response = await h.call("GET", "/api/spells", { token: caller.token });
    const typed = response.body.spells.find((spell: { slug: string }) => spell.slug === "typed-echo@v1");
    expect(typed).toMatchObject({ inputSchema: INPUT, outputSchema: OUTPUT });
    // Builtins describe themselves from their zod schemas.
    const resize = response.body.spells.find((spell: { slug: string }) => spell.slug === "resize@v1");
    expect(resize.inputSchema).toMatchObject({ type: "object", required: ["image"] });
  });

  it("GET /api/spells/:slug/openapi.json types one spell's call, for callers who may run it", async () => {
    const caller = await h.user();
    const response = await h.call("GET", "/api/spells/typed-echo@v1/openapi.json", { token: caller.token });
    expect(response.status).toBe(200);
    const operation = response.body.paths["/spell/execute"].post;
    expect(operation.requestBody.content["application/json"].schema.properties).toMatchObject({
      spell: { const: "typed-echo@v1" },
      input: INPUT,
    });
    expect(operation.responses["200"].content["application/json"].schema.properties.output).toEqual(OUTPUT);
    const missing = await h.call("GET", "/api/spells/nothing@v1/openapi.json", { token: caller.token });
    expect(missing.status).toBe(404);
    const anonymous = await h.call("GET", "/api/spells/typed-echo@v1/openapi.json");
    expect(anonymous.status).toBe(401);
  });
});

describe("declared schemas, enforced", () => {
  it("runs a conforming input", async () => {
    const caller = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: caller.token,
      body: { spell: "typed-echo@v1", input: { name: "Ada", tags: ["x"] } },
    });
    expect(response.status).toBe(200);
    expect(response.body.output).toEqual({ name: "Ada", tags: ["x"] });
  });

  it("refuses a non-conforming input with 400 VALIDATION_ERROR and JSON pointers, recording nothing", async () => {
    const caller = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: caller.token,
      body: { spell: "typed-echo@v1", input: { tags: [1], extra: true }, idempotencyKey: "bad-input" },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("VALIDATION_ERROR");
    const pointers = response.body.error.details.issues.map((issue: { pointer: string }) => issue.pointer);
    expect(pointers).toEqual(expect.arrayContaining(["/input/name", "/input/tags/0", "/input/extra"]));
    expect(await h.executionCount(caller.id)).toBe(0);
  });

  it("a builtin's derived schema refuses a bad input before anything is recorded", async () => {
    const caller = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: caller.token,
      body: { spell: "resize@v1", input: { width: 10 }, idempotencyKey: "resize-no-image" },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.details.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ pointer: "/input/image", keyword: "required" })]),
    );
    expect(await h.executionCount(caller.id)).toBe(0);
  });
});

describe("declared schemas at publish", () => {
  it.each([
    ["a number", { inputSchema: 5 }, "inputSchema", ""],
    [
      "a typo'd keyword (strict mode)",
      { inputSchema: { type: "object", requird: ["a"] } },
      "inputSchema",
      "",
    ],
    ["a bad type name", { outputSchema: { type: "strng" } }, "outputSchema", "/type"],
    ["a legacy metadata.inputSchema", { metadata: { inputSchema: 5 } }, "metadata.inputSchema", ""],
  ])("refuses %s with 422 ARTIFACT_INVALID, the field and where", async (_name, extra, field, pointer) => {
    const admin = await h.admin();
    const response = await h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: { slug: "bad-schema@v1", runtime: "builtin", artifact: { builtin: "echo" }, ...extra },
    });
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({
      code: "ARTIFACT_INVALID",
      details: { reason: "invalid_schema", field, pointer },
    });
  });
});
