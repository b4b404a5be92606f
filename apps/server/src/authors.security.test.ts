import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, signToken, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const publisher = async (prefix: string) => {
  const id = `${prefix}-${crypto.randomUUID()}`;
  return { id, token: await signToken(id, { scopes: ["spell:publish"] }) };
};
const slugOf = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}@v1`;

describe("authors: scope and ownership on every route", () => {
  it("a token without spell:publish cannot publish: 403, nothing stored", async () => {
    const plain = await h.user();
    const slug = slugOf("noscope");
    const response = await h.call("POST", "/api/spells/publish", {
      token: plain.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: "FORBIDDEN", details: { scope: "spell:publish" } });
    expect(await h.testDb.database.prisma.spell.count({ where: { slug } })).toBe(0);
  });

  it("the publish scope from an ordinary (machine) issuer publishes, but never reaches admin routes", async () => {
    const rune = await publisher("rune");
    const slug = slugOf("rune");
    const response = await h.call("POST", "/api/spells/publish", {
      token: rune.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ created: true, changed: ["created"], spell: { ownerId: rune.id } });
    const ban = await h.call("POST", "/api/admin/ban", {
      token: rune.token,
      body: { userId: "x", reason: "y" },
    });
    expect(ban.status).toBe(403);
    const adminPublish = await h.call("POST", "/api/admin/spells", {
      token: rune.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    expect(adminPublish.status).toBe(403);
  });

  it("another author is refused on publish, update, rollback, disable, versions, runs and stats; nothing changed", async () => {
    const alice = await publisher("alice");
    const bob = await publisher("bob");
    const slug = slugOf("owned");
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" }, visibility: "private" },
    });
    const before = await h.testDb.database.prisma.spell.findUnique({ where: { slug } });
    const attempts: Array<[string, string, unknown]> = [
      ["POST", "/api/spells/publish", { slug, runtime: "builtin", artifact: { builtin: "resize" } }],
      ["POST", "/api/spells/update", { slug, visibility: "public" }],
      ["POST", "/api/spells/rollback", { slug, version: 1 }],
      ["POST", "/api/spells/disable", { slug }],
      ["GET", `/api/spells/versions?slug=${encodeURIComponent(slug)}`, undefined],
      ["GET", `/api/spells/runs?slug=${encodeURIComponent(slug)}`, undefined],
      ["GET", `/api/spells/stats?slug=${encodeURIComponent(slug)}`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const response = await h.call(method, path, { token: bob.token, ...(body ? { body } : {}) });
      expect([path, response.status, response.body.error?.code]).toEqual([path, 403, "FORBIDDEN"]);
    }
    expect(await h.testDb.database.prisma.spell.findUnique({ where: { slug } })).toEqual(before);
    expect(await h.testDb.database.prisma.artifact.count({ where: { spellId: before?.id ?? "" } })).toBe(1);
  });

  it("a team member with the scope may change the team's spell; without it, 403", async () => {
    const admin = await h.admin();
    const alice = await publisher("alice");
    const carol = await publisher("carol");
    const carolPlain = { id: carol.id, token: await signToken(carol.id) };
    const teamId = `team-${crypto.randomUUID().slice(0, 8)}`;
    for (const member of [alice.id, carol.id]) {
      await h.call("POST", "/api/admin/teams/members", {
        token: admin.token,
        body: { teamId, userId: member, action: "add" },
      });
    }
    const slug = slugOf("team");
    const created = await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" }, visibility: "team", teamId },
    });
    expect(created.status).toBe(200);
    const refused = await h.call("POST", "/api/spells/update", {
      token: carolPlain.token,
      body: { slug, priceAmount: 0, metadata: { description: "x" } },
    });
    expect(refused.status).toBe(403);
    const allowed = await h.call("POST", "/api/spells/update", {
      token: carol.token,
      body: { slug, metadata: { description: "by carol" } },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ changed: ["metadata"], spell: { ownerId: alice.id } });
  });

  it("an admin changes anyone's spell through the admin route and the owner stays", async () => {
    const alice = await publisher("alice");
    const slug = slugOf("adminfix");
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" }, visibility: "private" },
    });
    const response = await h.publish({ slug, runtime: "builtin", artifact: { builtin: "resize" } });
    expect(response.body).toMatchObject({
      created: false,
      changed: ["artifact"],
      spell: { ownerId: alice.id, visibility: "private" },
    });
  });

  it("a banned author changes nothing", async () => {
    const admin = await h.admin();
    const alice = await publisher("alice");
    const slug = slugOf("banned");
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    await h.call("POST", "/api/admin/ban", {
      token: admin.token,
      body: { userId: alice.id, reason: "abuse" },
    });
    const response = await h.call("POST", "/api/spells/disable", { token: alice.token, body: { slug } });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("USER_BANNED");
    expect((await h.testDb.database.prisma.spell.findUnique({ where: { slug } }))?.disabledAt).toBeNull();
  });

  it("nobody reads a run of a spell they do not own", async () => {
    const alice = await publisher("alice");
    const slug = slugOf("runs");
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    const runner = await h.user();
    const ran = await h.call("POST", "/api/spell/execute", { token: runner.token, body: { spell: slug } });
    const stranger = await publisher("mallory");
    const log = await h.call("GET", `/api/spells/runs/log?executionId=${ran.body.executionId}`, {
      token: stranger.token,
    });
    expect(log.status).toBe(404);
    const listed = await h.call("GET", "/api/spells/runs", { token: stranger.token });
    expect(listed.body.runs).toEqual([]);
  });
});
