import { AppError } from "@spell/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { requestIdFrom } from "./observability/request-id.ts";
import { capturedLogger } from "./observability/testing.ts";
import { createFakeEngine } from "./testutil/fake-engine.ts";
import { call, type Listening, listen } from "./testutil/http.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const captured = capturedLogger();
let server: Listening;

beforeAll(async () => {
  const engine = createFakeEngine({
    listSpells: async () => {
      throw new Error("database exploded");
    },
  });
  server = await listen(createApp({ engine, ping: async () => undefined, log: captured.log }));
});
afterAll(() => server.close());

/** The log lines of one request, waiting briefly: the access line is written when the response closes. */
async function linesOf(requestId: string): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 50; i += 1) {
    const lines = captured.lines().filter((line) => line.requestId === requestId);
    if (lines.some((line) => line.msg === "request" || line.msg === "request failed")) return lines;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return captured.lines().filter((line) => line.requestId === requestId);
}

describe("request ids: happy", () => {
  it("keeps a valid incoming X-Request-Id, answers it and logs it on the access line", async () => {
    const response = await call(server.url, "POST", "/api/spell/execute", {
      token: "alice",
      body: { spell: "echo@v1", input: { a: 1 } },
      headers: { "x-request-id": "lb-7f3a:42.x_y" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-request-id")).toBe("lb-7f3a:42.x_y");
    const [line] = await linesOf("lb-7f3a:42.x_y");
    expect(line).toMatchObject({
      level: "info",
      msg: "request",
      method: "POST",
      route: "/api/spell/execute",
      status: 200,
      spell: "echo@v1",
      executionId: "exe_fake",
    });
    expect(typeof line?.durationMs).toBe("number");
  });

  it("generates a UUID when there is none, on every kind of response", async () => {
    for (const [method, path] of [
      ["GET", "/healthz"],
      ["GET", "/api/nowhere"],
      ["GET", "/trpc/me"],
    ] as const) {
      const response = await call(server.url, method, path, { token: "bob" });
      expect(response.headers.get("x-request-id"), path).toMatch(UUID);
    }
  });

  it("names the caller on lines of authenticated routes", async () => {
    const response = await call(server.url, "GET", "/api/me", { token: "carol" });
    const requestId = response.headers.get("x-request-id") ?? "";
    const [line] = await linesOf(requestId);
    expect(line).toMatchObject({ route: "/api/me", status: 200, userId: "carol" });
  });
});

describe("request ids: error", () => {
  it("puts requestId beside error in every error body, REST 4xx included", async () => {
    const response = await call(server.url, "POST", "/api/spell/execute", {
      body: { spell: "echo@v1" },
      headers: { "x-request-id": "req-401" },
    });
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" }, requestId: "req-401" });
    const notFound = await call(server.url, "GET", "/api/nope");
    expect(notFound.body.requestId).toBe(notFound.headers.get("x-request-id"));
    const badJson = await call(server.url, "POST", "/api/spell/execute", { token: "a", body: "{nope" });
    expect(badJson.body).toMatchObject({ error: { code: "MALFORMED_JSON" } });
    expect(badJson.body.requestId).toMatch(UUID);
  });

  it("puts requestId in tRPC error.data, on the lean handler and on tRPC's adapter", async () => {
    const lean = await call(server.url, "POST", "/trpc/spell.execute", {
      body: { spell: "echo@v1" },
      headers: { "x-request-id": "req-trpc-401" },
    });
    expect(lean.status).toBe(401);
    expect(lean.body).toMatchObject({ error: { data: { code: "UNAUTHORIZED", requestId: "req-trpc-401" } } });
    // A mutation called by GET is answered by tRPC's own adapter (405), with the same data.
    const adapter = await call(server.url, "GET", "/trpc/spell.execute", { token: "a" });
    expect(adapter.status).toBe(405);
    expect(adapter.body.error.data.requestId).toBe(adapter.headers.get("x-request-id"));
    expect(adapter.body.error.data.requestId).toMatch(UUID);
    // A 5xx too: the id is what an operator greps the logs for.
    const failed = await call(server.url, "GET", `/trpc/spell.list?input=${encodeURIComponent("{}")}`, {
      token: "a",
    });
    expect(failed.status).toBe(500);
    expect(failed.body.error.data).toMatchObject({
      code: "INTERNAL_ERROR",
      requestId: expect.stringMatching(UUID),
    });
  });

  it("logs a 5xx with the request id on the error line and the access line", async () => {
    const response = await call(server.url, "GET", "/api/spells", {
      token: "dave",
      headers: { "x-request-id": "req-500" },
    });
    expect(response.status).toBe(500);
    expect(response.body.requestId).toBe("req-500");
    const lines = await linesOf("req-500");
    const errorLine = lines.find((line) => line.code === "INTERNAL_ERROR");
    expect(errorLine).toMatchObject({ level: "error", requestId: "req-500" });
    expect(lines.find((line) => line.msg === "request failed")).toMatchObject({ status: 500 });
  });
});

describe("request ids: security", () => {
  it.each([
    ["empty", ""],
    ["too long", "a".repeat(129)],
    ["spaces", "a b"],
    ["header injection", "abc\r\nx-admin: 1"],
    ["quotes", 'a"b'],
    ["unicode", "ид"],
  ])("replaces an unusable incoming id (%s) by a UUID", (_name, value) => {
    expect(requestIdFrom(value)).toMatch(UUID);
  });

  it("accepts the longest allowed id and the first of repeated headers", () => {
    expect(requestIdFrom("a".repeat(128))).toBe("a".repeat(128));
    expect(requestIdFrom(["first", "second"])).toBe("first");
  });

  it("never writes the bearer token or secrets in error details to the log", async () => {
    const token = "secret-token-value-123";
    // The fake engine takes a token as the user id: a route that never authenticates shows what
    // the server itself writes about a request.
    await call(server.url, "GET", "/api/nope", { token, headers: { "x-request-id": "req-secret" } });
    await linesOf("req-secret");
    captured.log.error(
      { headers: { authorization: `Bearer ${token}` }, err: new AppError("INTERNAL_ERROR", "x", {}) },
      "probe",
    );
    captured.log.warn({ details: { clientSecret: "pi_1_secret_2", card: { number: "4242" } } }, "probe");
    const text = JSON.stringify(captured.lines());
    expect(text).not.toContain(token);
    expect(text).not.toContain("pi_1_secret_2");
    expect(text).not.toContain("4242");
    expect(text).toContain("[redacted]");
  });
});

describe("behind a load balancer", () => {
  it("logs the client address from X-Forwarded-For only when the proxy is trusted", async () => {
    const trusted = capturedLogger();
    const untrusted = capturedLogger();
    const engine = createFakeEngine();
    const behind = await listen(
      createApp({ engine, ping: async () => undefined, log: trusted.log, trustProxy: "loopback" }),
    );
    const direct = await listen(createApp({ engine, ping: async () => undefined, log: untrusted.log }));
    try {
      const headers = { "x-forwarded-for": "203.0.113.7" };
      await call(behind.url, "GET", "/healthz", { headers });
      await call(direct.url, "GET", "/healthz", { headers });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(trusted.lines().find((line) => line.route === "/healthz")?.ip).toBe("203.0.113.7");
      expect(untrusted.lines().find((line) => line.route === "/healthz")?.ip).toBe("127.0.0.1");
    } finally {
      await behind.close();
      await direct.close();
    }
  });
});
