import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps } from "../testing/index.ts";

function setup() {
  const { deps, ports, billing } = createMemoryEngineDeps();
  return { engine: createEngine(deps), ports, billing };
}

describe("listSpells", () => {
  it("lists only runnable spells with their price and builtin input schema", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "echo@v1" });
    ports.putSpell({ slug: "secret@v1", visibility: "private", createdBy: "bob" });
    const session = await engine.authenticate("Bearer alice");
    const listed = await engine.listSpells(session);
    expect(listed.spells.map((s) => s.slug)).toEqual(["echo@v1"]);
    expect(listed.spells[0]?.inputSchema).toMatchObject({ type: "object" });
  });

  it("prefers the publisher's description and input schema over the runtime's", async () => {
    const { engine, ports } = setup();
    const declared = { type: "object", properties: { text: { type: "string" } } };
    const spell = ports.putSpell({ slug: "echo@v1" });
    spell.artifact.metadata = { description: "Mine.", inputSchema: declared };
    ports.putSpell({ slug: "wasm@v1", runtime: "wasm" });
    const listed = await engine.listSpells(await engine.authenticate("Bearer alice"));
    expect(listed.spells).toEqual([
      expect.objectContaining({ slug: "echo@v1", description: "Mine.", inputSchema: declared }),
      // No runtime describes it (no wasm runtime here, and wasm artifacts do not describe themselves).
      expect.objectContaining({ slug: "wasm@v1", description: null, inputSchema: null }),
    ]);
  });

  it("refuses a banned caller", async () => {
    const { engine, ports } = setup();
    await ports.adminStore.banUser("mallory", "fraud", "admin");
    const session = await engine.authenticate("Bearer mallory");
    await expect(engine.listSpells(session)).rejects.toMatchObject({ code: "USER_BANNED" });
  });
});

describe("estimate", () => {
  it("quotes the price with the function execute uses, charging nothing", async () => {
    const { engine, ports, billing } = setup();
    ports.putSpell({ slug: "paid@v1", price: { amount: 250, currency: "eur" } });
    const session = await engine.authenticate("Bearer alice");
    await expect(engine.estimate(session, { spell: "paid@v1" })).resolves.toEqual({
      ok: true,
      spell: { slug: "paid@v1", runtime: "builtin", visibility: "public" },
      price: { amount: 250, currency: "eur" },
      paymentMethodRequired: true,
      paymentMethodOnFile: false,
    });
    expect(billing.charges).toHaveLength(0);
  });

  it.each([
    ["nope@v1", "SPELL_NOT_FOUND"],
    ["secret@v1", "VISIBILITY_DENIED"],
  ])("answers %s with %s", async (slug, code) => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "secret@v1", visibility: "private", createdBy: "bob" });
    const session = await engine.authenticate("Bearer alice");
    await expect(engine.estimate(session, { spell: slug })).rejects.toMatchObject({ code });
  });

  it("refuses a banned caller before reading the spell", async () => {
    const { engine, ports } = setup();
    await ports.adminStore.banUser("mallory", "fraud", "admin");
    const session = await engine.authenticate("Bearer mallory");
    ports.calls.length = 0;
    await expect(engine.estimate(session, { spell: "echo@v1" })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    expect(ports.calls).toEqual([]);
  });
});

describe("me", () => {
  it("answers a banned caller too: it is how they learn their status", async () => {
    const { engine, ports } = setup();
    await ports.adminStore.banUser("mallory", "fraud", "admin");
    const session = await engine.authenticate("Bearer mallory");
    await expect(engine.me(session)).resolves.toMatchObject({
      ok: true,
      user: { id: "mallory", status: "banned", hasPaymentMethod: false },
      usage: { totalExecutions: 0 },
    });
  });

  it("counts the caller's executions", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "echo@v1" });
    await engine.executeSpell("Bearer alice", { spell: "echo@v1", input: {} });
    const session = await engine.authenticate("Bearer alice");
    await expect(engine.me(session)).resolves.toMatchObject({ usage: { totalExecutions: 1 } });
  });
});
