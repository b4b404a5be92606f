import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps } from "../testing/index.ts";

function setup() {
  const { deps, ports } = createMemoryEngineDeps();
  ports.putSpell({ slug: "echo@v1" });
  ports.putSpell({ slug: "team@v1", visibility: "team", teamId: "blue" });
  return { engine: createEngine(deps), ports };
}

describe("admin", () => {
  it("bans a user, whose next execute is refused, and unbans them", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(engine.ban(admin, { userId: "mallory", reason: "abuse" })).resolves.toEqual({
      ok: true,
      userId: "mallory",
      status: "banned",
    });
    await expect(
      engine.executeSpell("Bearer mallory", { spell: "echo@v1", input: {} }),
    ).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    await expect(engine.unban(admin, { userId: "mallory" })).resolves.toEqual({
      ok: true,
      userId: "mallory",
      status: "active",
    });
    await expect(
      engine.executeSpell("Bearer mallory", { spell: "echo@v1", input: {} }),
    ).resolves.toMatchObject({
      ok: true,
    });
  });

  it("adds and removes team members, and team spells follow", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    const add = { teamId: "blue", userId: "alice", action: "add" as const };
    await expect(engine.setTeamMembership(admin, add)).resolves.toEqual({
      ok: true,
      teamId: "blue",
      userId: "alice",
      member: true,
    });
    await expect(engine.executeSpell("Bearer alice", { spell: "team@v1", input: {} })).resolves.toMatchObject(
      {
        ok: true,
      },
    );
    await engine.setTeamMembership(admin, { ...add, action: "remove" });
    await expect(engine.executeSpell("Bearer alice", { spell: "team@v1", input: {} })).rejects.toMatchObject({
      code: "VISIBILITY_DENIED",
    });
  });

  it("refuses every admin operation to a non-admin, changing nothing", async () => {
    const { engine, ports } = setup();
    const alice = await engine.authenticate("Bearer alice");
    await expect(engine.ban(alice, { userId: "bob", reason: "x" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(engine.unban(alice, { userId: "bob" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      engine.setTeamMembership(alice, { teamId: "blue", userId: "alice", action: "add" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(ports.users.get("bob")).toBeUndefined();
    expect(ports.calls).not.toContain("admin.banUser");
  });
});
