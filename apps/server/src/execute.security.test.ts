import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, signToken, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const execute = (token: string | undefined, spell = "echo@v1", headers: Record<string, string> = {}) =>
  h.call("POST", "/api/spell/execute", {
    ...(token !== undefined ? { token } : {}),
    body: { spell, input: { x: 1 } },
    headers,
  });

describe("401 UNAUTHORIZED with details.reason", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<Record<string, string>>, string]> = [
    ["no Authorization header", async () => ({}), "missing_token"],
    ["not a bearer JWT", async () => ({ authorization: "Bearer not-a-jwt" }), "malformed_token"],
    [
      "signed with another key (forged)",
      async () => ({ authorization: `Bearer ${await signToken("mallory", { secret: "x".repeat(40) })}` }),
      "bad_signature",
    ],
    [
      "expired",
      async () => ({ authorization: `Bearer ${await signToken("alice", { expiresAt: now() - 3600 })}` }),
      "expired",
    ],
    [
      "not yet valid",
      async () => ({ authorization: `Bearer ${await signToken("alice", { notBefore: now() + 3600 })}` }),
      "not_yet_valid",
    ],
    [
      "for another audience",
      async () => ({ authorization: `Bearer ${await signToken("alice", { audience: "other" })}` }),
      "wrong_audience",
    ],
    [
      "from an untrusted issuer",
      async () => ({ authorization: `Bearer ${await signToken("alice", { issuer: "https://evil.test" })}` }),
      "unknown_issuer",
    ],
    [
      "without sub",
      async () => ({ authorization: `Bearer ${await signToken("alice", { sub: null })}` }),
      "missing_sub",
    ],
  ];

  it.each(cases)("%s", async (_name, headers, reason) => {
    const response = await h.call("POST", "/api/spell/execute", {
      body: { spell: "echo@v1" },
      headers: await headers(),
    });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "UNAUTHORIZED", message: expect.any(String), details: { reason } },
    });
  });

  it("on tRPC the same code and reason are in error.data", async () => {
    const forged = await signToken("mallory", { secret: "x".repeat(40) });
    const error = await h
      .trpc(forged)
      .spell.execute.mutate({ spell: "echo@v1" })
      .catch((e: { data?: unknown }) => e);
    expect((error as { data?: unknown }).data).toMatchObject({
      code: "UNAUTHORIZED",
      httpStatus: 401,
      details: { reason: "bad_signature" },
    });
  });

  it("every user route refuses a missing token", async () => {
    for (const [method, path, body] of [
      ["GET", "/api/me", undefined],
      ["GET", "/api/spells", undefined],
      ["POST", "/api/spell/estimate", { spell: "echo@v1" }],
      ["POST", "/api/admin/ban", { userId: "x", reason: "y" }],
    ] as const) {
      const response = await h.call(method, path, body === undefined ? {} : { body });
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.body.error.details).toEqual({ reason: "missing_token" });
    }
  });
});

describe("403 USER_BANNED", () => {
  it("a banned user runs nothing until unbanned", async () => {
    const admin = await h.admin();
    const mallory = await h.user("mallory");
    expect((await execute(mallory.token)).status).toBe(200);

    const ban = await h.call("POST", "/api/admin/ban", {
      token: admin.token,
      body: { userId: mallory.id, reason: "abuse" },
    });
    expect(ban.status).toBe(200);

    const refused = await execute(mallory.token);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "USER_BANNED", message: expect.any(String), details: { userId: mallory.id } },
    });
    // Refused before the spell is even looked up: an unknown slug answers the same.
    expect((await execute(mallory.token, "nope@v1")).body.error.code).toBe("USER_BANNED");
    for (const [method, path, body] of [
      ["GET", "/api/spells", undefined],
      ["POST", "/api/spell/estimate", { spell: "echo@v1" }],
    ] as const) {
      const response = await h.call(method, path, { token: mallory.token, ...(body ? { body } : {}) });
      expect(response.status, path).toBe(403);
      expect(response.body.error.code).toBe("USER_BANNED");
    }
    const trpcError = await h
      .trpc(mallory.token)
      .spell.execute.mutate({ spell: "echo@v1" })
      .catch((e: { data?: unknown }) => e);
    expect((trpcError as { data?: unknown }).data).toMatchObject({ code: "USER_BANNED", httpStatus: 403 });
    expect(await h.executionCount(mallory.id)).toBe(1);

    // A banned user can still read their own status.
    const me = await h.call("GET", "/api/me", { token: mallory.token });
    expect(me.status).toBe(200);
    expect(me.body.user.status).toBe("banned");

    const unban = await h.call("POST", "/api/admin/unban", {
      token: admin.token,
      body: { userId: mallory.id },
    });
    expect(unban.body).toEqual({ ok: true, userId: mallory.id, status: "active" });
    expect((await execute(mallory.token)).status).toBe(200);
    expect(await h.executionCount(mallory.id)).toBe(2);
  });

  it("a user banned before ever calling is refused on first sight", async () => {
    const admin = await h.admin();
    const eve = await h.user("eve");
    await h.call("POST", "/api/admin/ban", {
      token: admin.token,
      body: { userId: eve.id, reason: "pre-emptive" },
    });
    expect((await execute(eve.token)).body.error.code).toBe("USER_BANNED");
    expect(await h.executionCount(eve.id)).toBe(0);
  });
});

describe("403 VISIBILITY_DENIED", () => {
  it("a private spell runs only for its owner", async () => {
    const owner = await h.user("owner");
    const other = await h.user("other");
    await h.publish({
      slug: "secret@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "private",
      ownerId: owner.id,
    });
    expect((await execute(owner.token, "secret@v1")).status).toBe(200);
    const denied = await execute(other.token, "secret@v1");
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("VISIBILITY_DENIED");
    const estimate = await h.call("POST", "/api/spell/estimate", {
      token: other.token,
      body: { spell: "secret@v1" },
    });
    expect(estimate.body.error.code).toBe("VISIBILITY_DENIED");
    const listed = await h.call("GET", "/api/spells", { token: other.token });
    expect(listed.body.spells.map((s: { slug: string }) => s.slug)).not.toContain("secret@v1");
    expect(await h.executionCount(other.id)).toBe(0);
  });

  it("a team spell follows team membership as it changes", async () => {
    const admin = await h.admin();
    const carol = await h.user("carol");
    await h.publish({
      slug: "team-tool@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "team",
      teamId: "blue",
    });
    const membership = (action: "add" | "remove") =>
      h.call("POST", "/api/admin/teams/members", {
        token: admin.token,
        body: { teamId: "blue", userId: carol.id, action },
      });

    expect((await execute(carol.token, "team-tool@v1")).body.error.code).toBe("VISIBILITY_DENIED");
    expect((await membership("add")).body).toEqual({
      ok: true,
      teamId: "blue",
      userId: carol.id,
      member: true,
    });
    expect((await execute(carol.token, "team-tool@v1")).status).toBe(200);
    const listed = await h.call("GET", "/api/spells", { token: carol.token });
    expect(listed.body.spells.map((s: { slug: string }) => s.slug)).toContain("team-tool@v1");
    expect((await membership("remove")).body.member).toBe(false);
    expect((await execute(carol.token, "team-tool@v1")).body.error.code).toBe("VISIBILITY_DENIED");
  });
});
