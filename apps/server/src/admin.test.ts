import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, signToken, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const ADMIN_ROUTES: Array<[string, object]> = [
  ["/api/admin/ban", { userId: "someone", reason: "test" }],
  ["/api/admin/unban", { userId: "someone" }],
  ["/api/admin/spells", { slug: "x@v1", runtime: "builtin", artifact: { builtin: "echo" } }],
  ["/api/admin/teams/members", { teamId: "red", userId: "someone", action: "add" }],
];

describe("403 FORBIDDEN on admin routes", () => {
  it.each(ADMIN_ROUTES)("%s refuses an ordinary user", async (path, body) => {
    const alice = await h.user();
    const response = await h.call("POST", path, { token: alice.token, body });
    expect(response.status).toBe(403);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "FORBIDDEN", message: expect.any(String), details: {} },
    });
  });

  it("refuses the admin scope from an issuer that is not admin-capable", async () => {
    const token = await signToken("pretender", { scopes: ["spell:admin"] });
    const response = await h.call("POST", "/api/admin/ban", { token, body: { userId: "x", reason: "y" } });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe("FORBIDDEN");
  });

  it("refuses an admin-capable issuer's token without the admin scope", async () => {
    const token = await signToken("staff", { admin: true, scopes: [] });
    const response = await h.call("POST", "/api/admin/ban", { token, body: { userId: "x", reason: "y" } });
    expect(response.body.error.code).toBe("FORBIDDEN");
  });

  it("answers FORBIDDEN on tRPC with the same data", async () => {
    const alice = await h.user();
    const error = await h
      .trpc(alice.token)
      .admin.ban.mutate({ userId: "x", reason: "y" })
      .catch((e: { data?: unknown }) => e);
    expect((error as { data?: unknown }).data).toMatchObject({
      code: "FORBIDDEN",
      httpStatus: 403,
      details: {},
    });
  });
});

describe("POST /api/admin/spells", () => {
  it("publishes a spell and answers its description", async () => {
    const admin = await h.admin();
    const response = await h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: {
        slug: "hello@v1",
        runtime: "builtin",
        artifact: { builtin: "echo" },
        priceAmount: 0,
        metadata: { description: "says hello" },
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      ok: true,
      created: true,
      changed: ["created"],
      spell: {
        id: expect.any(String),
        slug: "hello@v1",
        runtime: "builtin",
        visibility: "public",
        teamId: null,
        ownerId: admin.id,
        price: { amount: 0, currency: "usd" },
        artifactId: expect.any(String),
        wasmSha256: null,
        disabled: false,
      },
      signingSecret: null,
    });
  });

  it("422 ARTIFACT_INVALID for an unknown builtin", async () => {
    const admin = await h.admin();
    const response = await h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: { slug: "bad@v1", runtime: "builtin", artifact: { builtin: "no-such-builtin" } },
    });
    expect(response.status).toBe(422);
    expect(response.body.error.code).toBe("ARTIFACT_INVALID");
  });

  it("400 VALIDATION_ERROR for a malformed publish", async () => {
    const admin = await h.admin();
    const response = await h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: { slug: "bad slug", runtime: "nope", artifact: {} },
    });
    expect(response.status).toBe(400);
    const paths = response.body.error.details.issues.map((issue: { path: string[] }) => issue.path[0]);
    expect(paths).toEqual(expect.arrayContaining(["slug", "runtime", "artifact"]));
  });
});

describe("GET /api/me and GET /api/spells", () => {
  it("me describes the caller and their recent usage", async () => {
    const alice = await h.user();
    await h.call("POST", "/api/spell/execute", { token: alice.token, body: { spell: "echo@v1" } });
    const me = await h.call("GET", "/api/me", { token: alice.token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      ok: true,
      user: { id: alice.id, status: "active", hasPaymentMethod: false, createdAt: expect.any(String) },
      usage: { totalExecutions: 1, totalCharged: [], recent: [{ slug: "echo@v1", status: "succeeded" }] },
    });
    const viaTrpc = await h.trpc(alice.token).me.query();
    expect(viaTrpc.user.id).toBe(alice.id);
  });

  it("spells lists the runnable spells with price, visibility and input schema", async () => {
    const alice = await h.user();
    const response = await h.call("GET", "/api/spells", { token: alice.token });
    expect(response.status).toBe(200);
    const echo = response.body.spells.find((s: { slug: string }) => s.slug === "echo@v1");
    expect(echo).toMatchObject({
      slug: "echo@v1",
      runtime: "builtin",
      price: { amount: 0, currency: "usd" },
      visibility: "public",
      inputSchema: expect.objectContaining({ type: "object" }),
    });
    const viaTrpc = await h.trpc(alice.token).spell.list.query();
    expect(viaTrpc.spells.map((s) => s.slug)).toEqual(
      response.body.spells.map((s: { slug: string }) => s.slug),
    );
  });
});

describe("501 BILLING_NOT_CONFIGURED", () => {
  it.each([
    [
      "/api/billing/checkout-url",
      { successUrl: "https://example.test/ok", cancelUrl: "https://example.test/no" },
    ],
    ["/api/billing/portal-url", { returnUrl: "https://example.test/back" }],
    ["/api/billing/confirm-intent", { paymentIntentId: "pi_123" }],
  ])("%s answers 501 until billing is configured", async (path, body) => {
    const alice = await h.user();
    const response = await h.call("POST", path, { token: alice.token, body });
    expect(response.status).toBe(501);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "BILLING_NOT_CONFIGURED", message: expect.any(String), details: {} },
    });
  });
});
