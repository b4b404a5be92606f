import { createEngine } from "@spell/engine";
import { createMemoryEngineDeps } from "@spell/engine/testing";
import { describe, expect, it } from "vitest";
import { createBuiltinRuntime } from "./index.ts";

/** The real builtins through the engine, as the server wires them. */
function setup() {
  const { deps, ports } = createMemoryEngineDeps();
  deps.runtimes = [createBuiltinRuntime()];
  return { engine: createEngine(deps), ports };
}

const base = {
  slug: "thing@v1",
  runtime: "builtin" as const,
  config: {},
  priceAmount: 0,
  currency: "usd",
  visibility: "public" as const,
  metadata: {},
};

describe("builtin runtime in the engine", () => {
  it("publishes a builtin; republishing another makes the next execute run it", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await engine.publish(admin, { ...base, artifact: { builtin: "echo" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).resolves.toMatchObject({ output: { a: 1 } });
    await engine.publish(admin, { ...base, artifact: { builtin: "resize" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });

  it("refuses to publish a builtin this server does not have", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(engine.publish(admin, { ...base, artifact: { builtin: "nope" } })).rejects.toMatchObject({
      code: "ARTIFACT_INVALID",
      details: { builtin: "nope" },
    });
  });

  it("describes its builtins in listings: description and input JSON Schema", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "echo@v1" });
    ports.putSpell({
      slug: "resize@v1",
      artifact: { id: "art_resize", builtin: "resize", apiEndpoint: null, wasmSha256: null, metadata: {} },
    });
    const listed = await engine.listSpells(await engine.authenticate("Bearer alice"));
    const resize = listed.spells.find((spell) => spell.slug === "resize@v1");
    expect(resize?.description).toContain("Resizes");
    expect(resize?.inputSchema).toMatchObject({ type: "object", required: ["image"] });
    expect(listed.spells.find((spell) => spell.slug === "echo@v1")?.description).toBe(
      "Returns its input unchanged.",
    );
  });
});
