import { createHash } from "node:crypto";
import { AppError } from "@spell/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
});
afterAll(() => t?.drop());

describe("spells.publish", () => {
  it("creates a spell whose lookup returns the published artifact", async () => {
    const published = await t.database.spells.publish(
      publishRequest({ slug: "create@v1", config: { size: 3 }, price: { amount: 75, currency: "eur" } }),
    );
    const lookup = await t.database.spells.findBySlug("create@v1", "someone");
    expect(lookup).toEqual({ spell: published, callerIsTeamMember: false });
    expect(published).toMatchObject({
      slug: "create@v1",
      config: { size: 3 },
      price: { amount: 75, currency: "eur" },
      artifact: { builtin: "echo", apiEndpoint: null, wasmSha256: null, metadata: {} },
    });
  });

  it("replaces the artifact: the next read sees it, the spell keeps its id and creator, history is kept", async () => {
    const first = await t.database.spells.publish(publishRequest({ slug: "replace@v1", createdBy: "alice" }));
    const second = await t.database.spells.publish(
      publishRequest({
        slug: "replace@v1",
        createdBy: "bob",
        runtime: "api",
        visibility: "private",
        artifact: {
          builtin: null,
          apiEndpoint: "https://upstream.example/run",
          wasmBinary: null,
          wasmSha256: null,
          metadata: { v: 2 },
        },
      }),
    );
    expect(second.id).toBe(first.id);
    expect(second.createdBy).toBe("alice");
    expect(second.artifact.id).not.toBe(first.artifact.id);

    const lookup = await t.database.spells.findBySlug("replace@v1", "alice");
    expect(lookup?.spell).toEqual(second);
    expect(lookup?.spell.artifact).toMatchObject({
      apiEndpoint: "https://upstream.example/run",
      metadata: { v: 2 },
    });
    expect(await t.database.prisma.artifact.count({ where: { spellId: first.id } })).toBe(2);
  });

  it("stores wasm bytes apart from the lookup and loads them by artifact id", async () => {
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 255]);
    const sha = createHash("sha256").update(bytes).digest("hex");
    const spell = await t.database.spells.publish(
      publishRequest({
        slug: "wasm@v1",
        runtime: "wasm",
        artifact: { builtin: null, apiEndpoint: null, wasmBinary: bytes, wasmSha256: sha, metadata: {} },
      }),
    );
    expect(spell.artifact.wasmSha256).toBe(sha);
    expect(await t.database.spells.loadWasmBinary(spell.artifact.id)).toEqual(bytes);
  });

  it("refuses to load wasm bytes of an artifact that has none", async () => {
    const spell = await t.database.spells.publish(publishRequest());
    await expect(t.database.spells.loadWasmBinary(spell.artifact.id)).rejects.toBeInstanceOf(AppError);
    await expect(t.database.spells.loadWasmBinary("not-a-uuid")).rejects.toBeInstanceOf(AppError);
  });

  it("answers null for an unknown slug", async () => {
    expect(await t.database.spells.findBySlug("missing@v1", "someone")).toBeNull();
  });
});

describe("spells.listRunnable", () => {
  it("lists public spells, the caller's private ones and their teams' spells only", async () => {
    const { spells, admin } = t.database;
    await spells.publish(publishRequest({ slug: "lr-public@v1", visibility: "public" }));
    await spells.publish(publishRequest({ slug: "lr-mine@v1", visibility: "private", createdBy: "carol" }));
    await spells.publish(publishRequest({ slug: "lr-theirs@v1", visibility: "private", createdBy: "dave" }));
    await spells.publish(publishRequest({ slug: "lr-team@v1", visibility: "team", teamId: "lr-team" }));
    await spells.publish(
      publishRequest({ slug: "lr-other-team@v1", visibility: "team", teamId: "lr-other" }),
    );
    await admin.setTeamMembership("lr-team", "carol", true);

    const runnable = (await spells.listRunnable("carol"))
      .map((spell) => spell.slug)
      .filter((s) => s.startsWith("lr-"));
    expect(runnable).toEqual(["lr-mine@v1", "lr-public@v1", "lr-team@v1"]);
    const stranger = (await spells.listRunnable("erin"))
      .map((spell) => spell.slug)
      .filter((s) => s.startsWith("lr-"));
    expect(stranger).toEqual(["lr-public@v1"]);
  });
});
