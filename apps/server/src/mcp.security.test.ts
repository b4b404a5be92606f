import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { connectMcp } from "./mcp/testing.ts";
import { ADMIN_ISSUER, type Harness, signToken, startHarness, USER_ISSUER } from "./testutil/harness.ts";
import { listen } from "./testutil/http.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
};

async function postMcp(headers: Record<string, string>, body: unknown = INITIALIZE) {
  return fetch(`${h.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe("MCP authorization (RFC 9728)", () => {
  it("serves Protected Resource Metadata at both well-known paths", async () => {
    for (const path of [
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/mcp",
    ]) {
      const response = await fetch(`${h.url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        resource: `${h.url}/mcp`,
        authorization_servers: expect.any(Array),
        bearer_methods_supported: ["header"],
      });
    }
  });

  it.each([
    ["no token", {}, false],
    ["a malformed token", { authorization: "Bearer not-a-jwt" }, true],
  ])("answers %s with 401 and WWW-Authenticate naming the metadata", async (_name, headers, invalid) => {
    const response = await postMcp(headers);
    expect(response.status).toBe(401);
    const challenge = response.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain(
      `Bearer resource_metadata="${h.url}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect(challenge.includes('error="invalid_token"')).toBe(invalid);
    expect(await response.json()).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });
  });

  it("refuses an expired token before anything runs", async () => {
    const token = await signToken("late-user", { expiresAt: Math.floor(Date.now() / 1000) - 120 });
    const response = await postMcp({ authorization: `Bearer ${token}` });
    expect(response.status).toBe(401);
  });
});

describe("MCP Origin validation", () => {
  it("refuses a cross-origin browser request", async () => {
    const caller = await h.user();
    const response = await postMcp({ authorization: `Bearer ${caller.token}`, origin: "https://evil.test" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      error: { code: "FORBIDDEN", details: { reason: "origin_not_allowed" } },
    });
  });

  it("admits the server's own origin and requests without Origin", async () => {
    const caller = await h.user();
    const own = await postMcp({ authorization: `Bearer ${caller.token}`, origin: h.url });
    expect(own.status).toBe(200);
    const none = await postMcp({ authorization: `Bearer ${caller.token}` });
    expect(none.status).toBe(200);
  });
});

describe("MCP visibility and bans", () => {
  it("neither lists nor runs another user's private spell", async () => {
    const owner = await h.user("owner");
    const other = await h.user("other");
    await h.publish({
      slug: "secret-echo@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "private",
      ownerId: owner.id,
    });
    const mine = await connectMcp(h.url, owner.token);
    const theirs = await connectMcp(h.url, other.token);
    try {
      expect((await mine.client.listTools()).tools.map((tool) => tool.name)).toContain("secret-echo_v1");
      expect((await theirs.client.listTools()).tools.map((tool) => tool.name)).not.toContain(
        "secret-echo_v1",
      );
      const refused = await theirs.client.callTool({ name: "secret-echo_v1", arguments: {} });
      expect(refused.isError).toBe(true);
      expect(refused._meta?.["spell/error"]).toMatchObject({ code: "VISIBILITY_DENIED" });
      expect(await h.executionCount(other.id)).toBe(0);
    } finally {
      await mine.close();
      await theirs.close();
    }
  });

  it("refuses a banned user's calls and lists nothing for them", async () => {
    const mallory = await h.user("mallory");
    const mcp = await connectMcp(h.url, mallory.token);
    try {
      const admin = await h.admin();
      const ban = await h.call("POST", "/api/admin/ban", {
        token: admin.token,
        body: { userId: mallory.id, reason: "abuse" },
      });
      expect(ban.status).toBe(200);
      const result = await mcp.client.callTool({ name: "echo_v1", arguments: { a: 1 } });
      expect(result.isError).toBe(true);
      expect(result._meta?.["spell/error"]).toMatchObject({ code: "USER_BANNED" });
      await expect(mcp.client.listTools()).rejects.toThrow(/banned/i);
      expect(await h.executionCount(mallory.id)).toBe(0);
    } finally {
      await mcp.close();
    }
  });
});

describe("MCP configured by the server", () => {
  it("names the trusted issuers as authorization servers and admits configured browser origins", async () => {
    const app = createApp({
      engine: h.engine,
      ping: async () => {},
      logger: { error: () => {} },
      publicUrl: "https://spell.example",
      mcp: {
        authorizationServers: [USER_ISSUER.issuer, ADMIN_ISSUER.issuer],
        allowedOrigins: ["https://chat.example"],
      },
    });
    const server = await listen(app);
    try {
      const metadata = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json();
      expect(metadata).toMatchObject({
        resource: "https://spell.example/mcp",
        authorization_servers: [USER_ISSUER.issuer, ADMIN_ISSUER.issuer],
      });
      const caller = await h.user();
      const post = (origin: string) =>
        fetch(`${server.url}/mcp`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            authorization: `Bearer ${caller.token}`,
            origin,
          },
          body: JSON.stringify(INITIALIZE),
        });
      expect((await post("https://chat.example")).status).toBe(200);
      expect((await post("https://spell.example")).status).toBe(200);
      expect((await post("https://other.example")).status).toBe(403);
      const unauthorized = await fetch(`${server.url}/mcp`, { method: "POST" });
      expect(unauthorized.headers.get("www-authenticate")).toContain(
        'resource_metadata="https://spell.example/.well-known/oauth-protected-resource/mcp"',
      );
    } finally {
      await server.close();
    }
  });
});
