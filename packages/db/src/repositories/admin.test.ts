import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
});
afterAll(() => t?.drop());

describe("admin bans", () => {
  it("bans a user never seen before, keeping the reason in the history", async () => {
    await t.database.admin.banUser("user-unseen", "spam", "admin-1");
    expect((await t.database.users.ensureUser("user-unseen")).status).toBe("banned");
    const bans = await t.database.prisma.ban.findMany({ where: { userId: "user-unseen" } });
    expect(bans).toMatchObject([{ reason: "spam", bannedBy: "admin-1", liftedAt: null }]);
  });

  it("unban lifts the open ban and reactivates; a second ban opens a new history row", async () => {
    await t.database.users.ensureUser("user-cycle");
    await t.database.admin.banUser("user-cycle", "first", "admin-1");
    await t.database.admin.unbanUser("user-cycle");
    expect((await t.database.users.ensureUser("user-cycle")).status).toBe("active");
    await t.database.admin.banUser("user-cycle", "second", "admin-2");
    expect((await t.database.users.ensureUser("user-cycle")).status).toBe("banned");
    const bans = await t.database.prisma.ban.findMany({
      where: { userId: "user-cycle" },
      orderBy: { createdAt: "asc" },
    });
    expect(bans.map((ban) => [ban.reason, ban.liftedAt === null])).toEqual([
      ["first", false],
      ["second", true],
    ]);
  });

  it("unbanning an unknown user changes nothing", async () => {
    await t.database.admin.unbanUser("user-nobody");
    expect(await t.database.prisma.user.findUnique({ where: { id: "user-nobody" } })).toBeNull();
  });
});

describe("admin team membership", () => {
  it("adds (creating the user), is idempotent, and removes", async () => {
    const spell = await t.database.spells.publish(publishRequest({ visibility: "team", teamId: "team-a" }));
    await t.database.admin.setTeamMembership("team-a", "user-member", true);
    await t.database.admin.setTeamMembership("team-a", "user-member", true);
    expect((await t.database.spells.findBySlug(spell.slug, "user-member"))?.callerIsTeamMember).toBe(true);
    expect(await t.database.prisma.teamMember.count({ where: { userId: "user-member" } })).toBe(1);

    await t.database.admin.setTeamMembership("team-a", "user-member", false);
    expect((await t.database.spells.findBySlug(spell.slug, "user-member"))?.callerIsTeamMember).toBe(false);
  });
});
