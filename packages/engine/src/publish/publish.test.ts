import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import type { Runtime } from "../ports.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";

function setup(runtimes: Runtime[] = []) {
  const { deps, ports } = createMemoryEngineDeps();
  deps.runtimes = [...deps.runtimes, ...runtimes];
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

describe("publish", () => {
  it("refuses publishing to a non-admin", async () => {
    const { engine } = setup();
    const session = await engine.authenticate("Bearer alice");
    await expect(
      engine.publish(session, {
        slug: "x@v1",
        runtime: "builtin",
        config: {},
        priceAmount: 0,
        currency: "usd",
        visibility: "public",
        artifact: { builtin: "echo" },
        metadata: {},
      }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("refuses a banned admin with USER_BANNED", async () => {
    const { engine, ports } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await ports.adminStore.banUser("root", "compromised", "other-admin");
    const banned = { ...admin, user: { ...admin.user, status: "banned" as const } };
    await expect(engine.publish(banned, { ...base, artifact: { builtin: "echo" } })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
  });

  it("replaces the artifact and the next execute runs the new one", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await engine.publish(admin, { ...base, artifact: { builtin: "echo" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).resolves.toMatchObject({
      output: { a: 1 },
    });
    await engine.publish(admin, { ...base, artifact: { builtin: "double" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });

  it.each([
    [{ runtime: "builtin" as const, artifact: { builtin: "nope" } }, "ARTIFACT_INVALID"],
    [{ runtime: "wasm" as const, artifact: { builtin: "echo" } }, "ARTIFACT_INVALID"],
    [{ runtime: "api" as const, artifact: { apiEndpoint: "https://x.example" } }, "ARTIFACT_INVALID"],
    [{ runtime: "builtin" as const, artifact: { builtin: "echo" }, priceAmount: 10 }, "PRICE_BELOW_MINIMUM"],
  ])("refuses an invalid publication %#", async (overrides, code) => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(
      engine.publish(admin, {
        slug: "bad@v1",
        config: {},
        priceAmount: 0,
        currency: "usd",
        visibility: "public",
        metadata: {},
        ...overrides,
      }),
    ).rejects.toMatchObject({ code });
  });

  it("tells a mismatched artifact from a runtime this server does not run", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(
      engine.publish(admin, { ...base, runtime: "wasm", artifact: { builtin: "echo" } }),
    ).rejects.toMatchObject({
      code: "ARTIFACT_INVALID",
      details: { runtime: "wasm", artifact: ["builtin"] },
    });
    await expect(
      engine.publish(admin, { ...base, runtime: "api", artifact: { apiEndpoint: "https://x.example" } }),
    ).rejects.toMatchObject({ code: "ARTIFACT_INVALID", details: { runtime: "api" } });
  });

  it("stores what the runtime prepared and shows the runtime's signing secret once", async () => {
    const { runtime } = createRecordingRuntime("api");
    const api: Runtime = {
      ...runtime,
      prepare: (artifact) => ({
        builtin: null,
        apiEndpoint: "apiEndpoint" in artifact ? `${artifact.apiEndpoint}/normalized` : null,
        wasmBinary: null,
        wasmSha256: null,
      }),
      signingSecret: (spell) => `secret-of-${spell.id}`,
    };
    const { engine, ports } = setup([api]);
    const admin = await engine.authenticate("Bearer admin:root");
    const published = await engine.publish(admin, {
      ...base,
      runtime: "api",
      artifact: { apiEndpoint: "https://x.example" },
      teamId: "blue",
      visibility: "team",
    });
    expect(published.signingSecret).toBe(`secret-of-${published.spell.id}`);
    expect(ports.spells.get("thing@v1")?.artifact.apiEndpoint).toBe("https://x.example/normalized");
    const builtin = await engine.publish(admin, { ...base, slug: "echo@v1", artifact: { builtin: "echo" } });
    expect(builtin.signingSecret).toBeNull();
  });

  it("refuses a team spell without a team", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(
      engine.publish(admin, { ...base, visibility: "team", artifact: { builtin: "echo" } }),
    ).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });
});
