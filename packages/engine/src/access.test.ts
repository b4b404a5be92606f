import { describe, expect, it } from "vitest";
import { admit } from "./access.ts";
import { createEngine } from "./engine.ts";
import type { Access, Session } from "./engine-types.ts";
import { createMemoryEngineDeps } from "./testing/index.ts";

function session(status: "active" | "banned", isAdmin: boolean): Session {
  return {
    caller: { userId: "u", subject: "u", issuer: "https://tests.example", isAdmin, scopes: [] },
    user: { id: "u", status, stripeCustomerId: null, hasPaymentMethod: false, createdAt: new Date(0) },
  };
}

describe("admit", () => {
  it.each<[Access, "active" | "banned", boolean, string | null]>([
    ["any", "active", false, null],
    ["any", "banned", false, null],
    ["user", "active", false, null],
    ["user", "banned", false, "USER_BANNED"],
    ["user", "banned", true, "USER_BANNED"],
    ["admin", "active", true, null],
    ["admin", "active", false, "FORBIDDEN"],
    // A banned admin learns about the ban, as on every other route.
    ["admin", "banned", true, "USER_BANNED"],
  ])("%s access, %s caller, admin=%s → %s", (access, status, isAdmin, code) => {
    const check = () => admit(session(status, isAdmin), access);
    if (code === null) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code }));
  });
});

describe("Engine.authenticate", () => {
  it("creates the user on first sight and admits for the access asked", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    const engine = createEngine(deps);
    await expect(engine.authenticate("Bearer alice")).resolves.toMatchObject({
      caller: { userId: "alice", isAdmin: false },
      user: { id: "alice", status: "active" },
    });
    await expect(engine.authenticate("Bearer alice", "admin")).rejects.toMatchObject({ code: "FORBIDDEN" });
    await ports.adminStore.banUser("alice", "fraud", "admin");
    await expect(engine.authenticate("Bearer alice")).resolves.toMatchObject({ user: { status: "banned" } });
    await expect(engine.authenticate("Bearer alice", "user")).rejects.toMatchObject({ code: "USER_BANNED" });
    await expect(engine.authenticate(undefined, "any")).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });
});
