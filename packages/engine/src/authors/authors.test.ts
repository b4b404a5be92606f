import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import type { AuthorOperations } from "../index.ts";
import type { Runtime } from "../ports.ts";
import { createFakeBuiltinRuntime, createMemoryEngineDeps, type MemoryPorts } from "../testing/index.ts";

function setup(runtimes?: Runtime[]) {
  const { deps, ports, billing } = createMemoryEngineDeps(runtimes ? { runtimes } : {});
  const engine = createEngine(deps);
  const authors = engine.authors as AuthorOperations;
  return { engine, authors, ports, billing };
}

const echo = { slug: "mine@v1", runtime: "builtin" as const, artifact: { builtin: "echo" } };

async function published(setupResult: ReturnType<typeof setup>, token = "Bearer publish:alice", extra = {}) {
  const session = await setupResult.engine.authenticate(token);
  return setupResult.authors.publish(session, { ...echo, ...extra });
}

describe("scopes", () => {
  it("spell:publish publishes; the spell belongs to the caller", async () => {
    const s = setup();
    await expect(published(s)).resolves.toMatchObject({
      created: true,
      changed: ["created"],
      spell: { slug: "mine@v1", ownerId: "alice", visibility: "public", disabled: false },
    });
  });

  it("a token without spell:publish is FORBIDDEN and nothing is stored", async () => {
    const s = setup();
    const plain = await s.engine.authenticate("Bearer alice");
    await expect(s.authors.publish(plain, echo)).rejects.toMatchObject({
      code: "FORBIDDEN",
      details: { scope: "spell:publish" },
    });
    expect(s.ports.spells.has("mine@v1")).toBe(false);
  });

  it("a banned publisher is USER_BANNED, nothing changes", async () => {
    const s = setup();
    await published(s);
    await s.ports.adminStore.banUser("alice", "abuse", "root");
    const session = await s.engine.authenticate("Bearer publish:alice");
    await expect(s.authors.publish(session, { ...echo, visibility: "private" })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    await expect(s.authors.disable(session, { slug: "mine@v1", disabled: true })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    expect(s.ports.spells.get("mine@v1")?.visibility).toBe("public");
  });

  it("only admins publish on behalf of someone else", async () => {
    const s = setup();
    const alice = await s.engine.authenticate("Bearer publish:alice");
    await expect(s.authors.publish(alice, { ...echo, ownerId: "bob" } as never)).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    const admin = await s.engine.authenticate("Bearer admin:root");
    await expect(s.engine.publish(admin, { ...echo, ownerId: "bob" })).resolves.toMatchObject({
      spell: { ownerId: "bob" },
    });
  });
});

describe("ownership", () => {
  it("another publisher may not republish, update, roll back or disable: 403, nothing changed", async () => {
    const s = setup();
    const first = await published(s);
    const bob = await s.engine.authenticate("Bearer publish:bob");
    const before = s.ports.spells.get("mine@v1");
    await expect(s.authors.publish(bob, { ...echo, artifact: { builtin: "double" } })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(s.authors.update(bob, { slug: "mine@v1", visibility: "private" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(s.authors.rollback(bob, { slug: "mine@v1", version: 1 })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(s.authors.disable(bob, { slug: "mine@v1", disabled: true })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(s.authors.versions(bob, { slug: "mine@v1" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(s.ports.spells.get("mine@v1")).toEqual(before);
    expect(s.ports.spells.get("mine@v1")?.artifact.id).toBe(first.spell.artifactId);
  });

  it("the owner without spell:publish may look but not change", async () => {
    const s = setup();
    await published(s);
    const alicePlain = await s.engine.authenticate("Bearer alice");
    await expect(s.authors.versions(alicePlain, { slug: "mine@v1" })).resolves.toMatchObject({ ok: true });
    await expect(s.authors.update(alicePlain, { slug: "mine@v1", priceAmount: 0 })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
  });

  it("a member of the owning team with spell:publish may change it; without the scope, not", async () => {
    const s = setup();
    await s.ports.adminStore.setTeamMembership("blue", "alice", true);
    await s.ports.adminStore.setTeamMembership("blue", "carol", true);
    await published(s, "Bearer publish:alice", { visibility: "team", teamId: "blue" });
    const carol = await s.engine.authenticate("Bearer publish:carol");
    await expect(
      s.authors.publish(carol, { ...echo, artifact: { builtin: "double" } }),
    ).resolves.toMatchObject({ changed: ["artifact"], spell: { ownerId: "alice", visibility: "team" } });
    const carolPlain = await s.engine.authenticate("Bearer carol");
    await expect(
      s.authors.update(carolPlain, { slug: "mine@v1", visibility: "public" }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(s.authors.runs(carolPlain, { slug: "mine@v1" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    expect(s.ports.spells.get("mine@v1")?.visibility).toBe("team");
  });

  it("a non-admin may not give a spell to a team they are not in", async () => {
    const s = setup();
    const alice = await s.engine.authenticate("Bearer publish:alice");
    await expect(
      s.authors.publish(alice, { ...echo, visibility: "team", teamId: "red" }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
      details: { teamId: "red" },
    });
    expect(s.ports.spells.has("mine@v1")).toBe(false);
  });

  it("an admin changes anyone's spell and the owner stays", async () => {
    const s = setup();
    await published(s);
    const admin = await s.engine.authenticate("Bearer admin:root");
    await expect(
      s.engine.publish(admin, { ...echo, artifact: { builtin: "double" }, ownerId: "root" }),
    ).resolves.toMatchObject({ spell: { ownerId: "alice" }, changed: ["artifact"] });
  });
});

describe("explicit updates", () => {
  it("a republish without visibility, price or metadata keeps them and changes the artifact only", async () => {
    const s = setup();
    await published(s, "Bearer publish:alice", {
      visibility: "private",
      metadata: { description: "mine" },
      inputSchema: { type: "object" },
    });
    const alice = await s.engine.authenticate("Bearer publish:alice");
    const again = await s.authors.publish(alice, { ...echo, artifact: { builtin: "double" } });
    expect(again).toMatchObject({ created: false, changed: ["artifact"], spell: { visibility: "private" } });
    expect(s.ports.spells.get("mine@v1")?.artifact.metadata).toEqual({
      description: "mine",
      inputSchema: { type: "object" },
    });
  });

  it("update changes only what is given and says so", async () => {
    const s = setup();
    await published(s, "Bearer publish:alice", { metadata: { description: "one" } });
    const alice = await s.engine.authenticate("Bearer publish:alice");
    const artifactBefore = s.ports.spells.get("mine@v1")?.artifact;
    await expect(s.authors.update(alice, { slug: "mine@v1", priceAmount: 75 })).resolves.toMatchObject({
      changed: ["price"],
      spell: { price: { amount: 75, currency: "usd" }, visibility: "public" },
    });
    expect(s.ports.spells.get("mine@v1")?.artifact).toEqual(artifactBefore);
    await expect(
      s.authors.update(alice, { slug: "mine@v1", metadata: { description: "two" } }),
    ).resolves.toMatchObject({ changed: ["metadata"] });
    const after = s.ports.spells.get("mine@v1");
    expect(after?.artifact).toMatchObject({ builtin: "echo", metadata: { description: "two" } });
    expect(after?.artifact.id).not.toBe(artifactBefore?.id);
    await expect(s.authors.update(alice, { slug: "mine@v1" })).resolves.toMatchObject({ changed: [] });
  });

  it("a price change never applies to a run already charged", async () => {
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fake = createFakeBuiltinRuntime();
    const slow: Runtime = {
      ...fake,
      async run(invocation) {
        started();
        await gate;
        return fake.run(invocation);
      },
    };
    const s = setup([slow]);
    await published(s, "Bearer publish:alice", { priceAmount: 100 });
    await s.engine.authenticate("Bearer payer");
    const payer = s.ports.users.get("payer");
    if (payer) s.ports.users.set("payer", { ...payer, hasPaymentMethod: true });
    const first = s.engine.executeSpell("Bearer payer", { spell: "mine@v1", input: {} });
    await running;
    const alice = await s.engine.authenticate("Bearer publish:alice");
    await s.authors.update(alice, { slug: "mine@v1", priceAmount: 500 });
    release();
    await expect(first).resolves.toMatchObject({ billing: { amount: 100 } });
    expect(s.billing.charges.map((charge) => charge.amount)).toEqual([100]);
    await expect(
      s.engine.executeSpell("Bearer payer", { spell: "mine@v1", input: {} }),
    ).resolves.toMatchObject({
      billing: { amount: 500 },
    });
  });
});

describe("history, rollback and unpublish", () => {
  it("lists every version, rolls back to an earlier one, which runs at once", async () => {
    const s = setup();
    await published(s);
    const alice = await s.engine.authenticate("Bearer publish:alice");
    await s.authors.publish(alice, { ...echo, artifact: { builtin: "double" } });
    const listed = await s.authors.versions(alice, { slug: "mine@v1" });
    expect(listed.versions).toMatchObject([
      {
        version: 1,
        createdBy: "alice",
        current: false,
        runtime: "builtin",
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      { version: 2, createdBy: "alice", current: true },
    ]);
    await expect(
      s.engine.executeSpell("Bearer x", { spell: "mine@v1", input: { n: 2 } }),
    ).resolves.toMatchObject({
      output: { doubled: 4 },
    });
    await expect(s.authors.rollback(alice, { slug: "mine@v1", version: 1 })).resolves.toMatchObject({
      version: 1,
      spell: { artifactId: listed.versions[0]?.artifactId },
    });
    await expect(
      s.engine.executeSpell("Bearer x", { spell: "mine@v1", input: { n: 2 } }),
    ).resolves.toMatchObject({
      output: { n: 2 },
    });
    await expect(s.authors.rollback(alice, { slug: "mine@v1", version: 9 })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("unpublish makes the spell unrunnable with SPELL_DISABLED, keeps its versions; enabling restores it", async () => {
    const s = setup();
    await published(s);
    const alice = await s.engine.authenticate("Bearer publish:alice");
    await expect(s.authors.disable(alice, { slug: "mine@v1", disabled: true })).resolves.toMatchObject({
      changed: ["disabled"],
      spell: { disabled: true },
    });
    await expect(s.engine.executeSpell("Bearer x", { spell: "mine@v1", input: {} })).rejects.toMatchObject({
      code: "SPELL_DISABLED",
      status: 404,
    });
    const x = await s.engine.authenticate("Bearer x");
    expect((await s.engine.listSpells(x)).spells.map((spell) => spell.slug)).not.toContain("mine@v1");
    await expect(s.authors.versions(alice, { slug: "mine@v1" })).resolves.toMatchObject({
      disabled: true,
      versions: [{ version: 1 }],
    });
    // A republish changes the artifact only: the spell stays unpublished until enabled.
    await expect(
      s.authors.publish(alice, { ...echo, artifact: { builtin: "double" } }),
    ).resolves.toMatchObject({
      spell: { disabled: true },
    });
    await s.authors.disable(alice, { slug: "mine@v1", disabled: false });
    await expect(
      s.engine.executeSpell("Bearer x", { spell: "mine@v1", input: { n: 1 } }),
    ).resolves.toMatchObject({
      ok: true,
    });
  });
});

function run(
  ports: MemoryPorts,
  spell: { id: string; slug: string; createdBy: string; teamId: string | null },
  over = {},
) {
  const row = {
    executionId: randomUUID(),
    spellId: spell.id,
    slug: spell.slug,
    runtime: "builtin" as const,
    artifactId: null,
    status: "succeeded" as const,
    errorCode: null,
    durationMs: 3,
    callerId: "caller",
    callerShares: false,
    price: { amount: 50, currency: "usd" },
    charged: true,
    createdAt: new Date("2026-12-20T10:00:00Z"),
    finishedAt: new Date("2026-12-20T10:00:01Z"),
    log: "stderr line",
    outcome: null,
    spellCreatedBy: spell.createdBy,
    spellTeamId: spell.teamId,
    callerIsTeamMember: false,
    ...over,
  };
  ports.authorRuns.push(row);
  return row;
}

describe("author views", () => {
  it("the owner sees the runs of their spells, callers hidden unless they share; others see none", async () => {
    const s = setup();
    const mine = s.ports.putSpell({ slug: "mine@v1", createdBy: "alice" });
    const theirs = s.ports.putSpell({ slug: "theirs@v1", createdBy: "bob" });
    const failed = run(s.ports, mine, {
      status: "failed",
      errorCode: "RUNTIME_ERROR",
      charged: false,
      createdAt: new Date("2026-12-21T10:00:00Z"),
      outcome: {
        kind: "failed",
        error: { code: "RUNTIME_ERROR", message: "upstream", details: { upstreamStatus: 503 } },
      },
    });
    run(s.ports, mine);
    run(s.ports, theirs);
    const alice = await s.engine.authenticate("Bearer alice");
    const page = await s.authors.runs(alice, { limit: 1 });
    expect(page.runs).toMatchObject([
      { executionId: failed.executionId, callerId: null, errorCode: "RUNTIME_ERROR" },
    ]);
    const next = await s.authors.runs(alice, { limit: 1, cursor: page.nextCursor ?? "" });
    expect(next).toMatchObject({ runs: [{ slug: "mine@v1", status: "succeeded" }], nextCursor: null });
    await expect(s.authors.runs(alice, { status: "failed" })).resolves.toMatchObject({
      runs: [{ status: "failed" }],
    });
    await expect(s.authors.runs(alice, { slug: "theirs@v1" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(s.authors.runLog(alice, { executionId: failed.executionId })).resolves.toMatchObject({
      run: { log: "stderr line", upstreamStatus: 503, error: { code: "RUNTIME_ERROR" } },
    });
    const bob = await s.engine.authenticate("Bearer publish:bob");
    await expect(s.authors.runLog(bob, { executionId: failed.executionId })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await s.authors.shareIdentity(await s.engine.authenticate("Bearer caller"), { share: true });
    expect((await s.authors.runs(alice, { slug: "mine@v1" })).runs[0]?.callerId).toBe("caller");
    const admin = await s.engine.authenticate("Bearer admin:root");
    expect((await s.authors.runs(admin, {})).runs).toHaveLength(3);
  });

  it("stats add up runs and captured revenue per spell and day", async () => {
    const s = setup();
    const mine = s.ports.putSpell({ slug: "mine@v1", createdBy: "alice" });
    run(s.ports, mine);
    run(s.ports, mine, { status: "failed", charged: false });
    run(s.ports, mine, { createdAt: new Date("2026-12-22T00:30:00Z") });
    const alice = await s.engine.authenticate("Bearer alice");
    await expect(s.authors.stats(alice, { slug: "mine@v1", period: "day" })).resolves.toEqual({
      ok: true,
      period: "day",
      buckets: [
        {
          slug: "mine@v1",
          periodStart: "2026-12-20T00:00:00.000Z",
          runs: 2,
          succeeded: 1,
          failed: 1,
          revenue: [{ amount: 50, currency: "usd" }],
        },
        {
          slug: "mine@v1",
          periodStart: "2026-12-22T00:00:00.000Z",
          runs: 1,
          succeeded: 1,
          failed: 0,
          revenue: [{ amount: 50, currency: "usd" }],
        },
      ],
    });
    const bob = await s.engine.authenticate("Bearer bob");
    await expect(s.authors.stats(bob, { period: "day" })).resolves.toMatchObject({ buckets: [] });
  });
});
