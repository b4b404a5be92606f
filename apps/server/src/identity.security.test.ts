import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, OTHER_ISSUER, signToken, startHarness } from "./testutil/harness.ts";

/**
 * A user is (issuer, subject): another trusted issuer minting the same `sub` is somebody else, and
 * sees nothing of the first user's. A signed token whose `sub` cannot name a user is a 401, never 500.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe("identity across issuers", () => {
  it("keeps another issuer's same sub apart: its own user id, none of the victim's usage", async () => {
    const victim = await h.user("victim");
    const ran = await h.call("POST", "/api/spell/execute", {
      token: victim.token,
      body: { spell: "echo@v1", input: { secret: "victim's" } },
    });
    expect(ran.status).toBe(200);

    const impostor = await signToken(victim.id, { issuer: OTHER_ISSUER.issuer, secret: OTHER_ISSUER.secret });
    const me = await h.call("GET", "/api/me", { token: impostor });
    expect(me.status).toBe(200);
    const body = me.body as { user: { id: string }; usage: { totalExecutions: number } };
    expect(body.user.id).toBe(`${OTHER_ISSUER.issuer}|${victim.id}`);
    expect(body.usage.totalExecutions).toBe(0);

    const victimMe = await h.call("GET", "/api/me", { token: victim.token });
    expect((victimMe.body as { usage: { totalExecutions: number } }).usage.totalExecutions).toBe(1);
  });

  it.each([
    ["control characters", "mallory\u0007"],
    ["a newline", "mallory\nroot"],
    ["a lone surrogate", "m\uD800"],
  ])(
    "answers a validly signed token whose sub has %s with 401 invalid_sub on every route",
    async (_n, sub) => {
      const token = await signToken(sub);
      for (const [method, path, body] of [
        ["GET", "/api/me", undefined],
        ["POST", "/api/spell/execute", { spell: "echo@v1", input: {} }],
        ["GET", "/api/spells", undefined],
      ] as const) {
        const response = await h.call(method, path, { token, ...(body ? { body } : {}) });
        expect(response.status, path).toBe(401);
        expect(response.body).toMatchObject({
          ok: false,
          error: { code: "UNAUTHORIZED", details: { reason: "invalid_sub" } },
        });
      }
    },
  );
});
