import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import type { SchemaValidator } from "../ports.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";

/** A stand-in for `@spell/schemas`: understands `required` only, counts compilations. */
function fakeValidator() {
  const compiled = new Set<string>();
  const validator: SchemaValidator & { compilations: () => number } = {
    check(schema) {
      if (typeof schema === "boolean") return null;
      if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
        return { pointer: "", message: "not a schema" };
      }
      const required = (schema as { required?: unknown }).required;
      return required === undefined || Array.isArray(required)
        ? null
        : { pointer: "/required", message: "must be array" };
    },
    validate(artifactId, role, schema, value) {
      compiled.add(`${role}:${artifactId}`);
      if (typeof schema === "boolean")
        return schema ? null : [{ pointer: "", keyword: "false", message: "no" }];
      const missing = ((schema.required as string[] | undefined) ?? []).filter(
        (key) => !(key in (value as Record<string, unknown>)),
      );
      return missing.length === 0
        ? null
        : missing.map((key) => ({ pointer: `/${key}`, keyword: "required", message: `needs ${key}` }));
    },
    compilations: () => compiled.size,
  };
  return validator;
}

function setup(respond: (input: Record<string, unknown>) => unknown = (input) => input) {
  const schemas = fakeValidator();
  const api = createRecordingRuntime("api", respond);
  const { deps, ports, billing } = createMemoryEngineDeps({ schemas });
  deps.runtimes = [...deps.runtimes, api.runtime];
  return { engine: createEngine(deps), ports, billing, schemas, runs: api.invocations };
}

const spell = {
  slug: "typed@v1",
  runtime: "api" as const,
  config: {},
  priceAmount: 100,
  currency: "usd",
  visibility: "public" as const,
  artifact: { apiEndpoint: "https://upstream.example/run" },
  metadata: {},
};

async function publish(engine: ReturnType<typeof createEngine>, extra: Record<string, unknown>) {
  const admin = await engine.authenticate("Bearer admin:root");
  return engine.publish(admin, { ...spell, ...extra });
}

describe("declared schemas at publish", () => {
  it.each([
    ["inputSchema", { inputSchema: 5 }, "inputSchema", ""],
    ["outputSchema", { outputSchema: { required: "x" } }, "outputSchema", "/required"],
    ["metadata.inputSchema", { metadata: { inputSchema: [] } }, "metadata.inputSchema", ""],
  ])(
    "refuses an invalid %s with ARTIFACT_INVALID, the field and where",
    async (_name, extra, field, pointer) => {
      const { engine } = setup();
      await expect(publish(engine, extra)).rejects.toMatchObject({
        code: "ARTIFACT_INVALID",
        details: { reason: "invalid_schema", field, pointer },
      });
    },
  );

  it("stores the declared schemas in the artifact's metadata, the field winning over metadata", async () => {
    const { engine, ports } = setup();
    await publish(engine, {
      inputSchema: { required: ["a"] },
      outputSchema: { required: ["b"] },
      metadata: { inputSchema: { required: ["old"] }, description: "d" },
    });
    const stored = await ports.spellStore.findBySlug("typed@v1", "x");
    expect(stored?.spell.artifact.metadata).toEqual({
      description: "d",
      inputSchema: { required: ["a"] },
      outputSchema: { required: ["b"] },
    });
  });
});

describe("declared schemas on execute", () => {
  it("refuses a non-conforming input with VALIDATION_ERROR before any charge or run", async () => {
    const { engine, billing, runs } = setup();
    await publish(engine, { inputSchema: { required: ["a"] } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "typed@v1", input: {}, idempotencyKey: "k1" }),
    ).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
      details: { issues: [{ path: ["input", "a"], pointer: "/input/a", keyword: "required" }] },
    });
    expect(billing.charges).toHaveLength(0);
    expect(runs).toHaveLength(0);
  });

  it("compiles once per artifact version, not per request", async () => {
    const { engine, schemas } = setup();
    await publish(engine, { inputSchema: { required: ["a"] }, priceAmount: 0 });
    for (let i = 0; i < 5; i++)
      await engine.executeSpell("Bearer alice", { spell: "typed@v1", input: { a: i } });
    expect(schemas.compilations()).toBe(1);
  });

  it("an output breaking the output schema is RUNTIME_ERROR output_schema and the money is released", async () => {
    const { engine, billing } = setup(() => ({ nope: true }));
    await publish(engine, { outputSchema: { required: ["b"] } });
    await expect(engine.executeSpell("Bearer alice", { spell: "typed@v1", input: {} })).rejects.toMatchObject(
      {
        code: "RUNTIME_ERROR",
        details: {
          reason: "output_schema",
          issues: [expect.objectContaining({ pointer: "/output/b" })],
          billing: { charged: false },
        },
      },
    );
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["failed"]);
  });

  it.each([
    ["nul_character", { text: "a\u0000b" }, ["text"]],
    ["lone_surrogate", { text: "\uD800" }, ["text"]],
    ["non_finite_number", { n: Number.POSITIVE_INFINITY }, ["n"]],
  ])(
    "an output with %s is RUNTIME_ERROR with that reason and path, money released",
    async (reason, output, path) => {
      const { engine, billing } = setup(() => output);
      await publish(engine, {});
      await expect(
        engine.executeSpell("Bearer alice", { spell: "typed@v1", input: {} }),
      ).rejects.toMatchObject({
        code: "RUNTIME_ERROR",
        details: { reason, path },
      });
      expect(billing.settlements.map((s) => s.outcome)).toEqual(["failed"]);
    },
  );
});
