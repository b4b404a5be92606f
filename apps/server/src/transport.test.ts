import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { type Caller, type Harness, startHarness } from "./testutil/harness.ts";
import { call, listen } from "./testutil/http.ts";

let h: Harness;
let alice: Caller;
beforeAll(async () => {
  h = await startHarness();
  alice = await h.user();
});
afterAll(() => h?.close());

const echo = JSON.stringify({ spell: "echo@v1", input: { hello: "world" } });

function post(path: string, body: string, headers: Record<string, string>) {
  return h.call("POST", path, { token: alice.token, body, headers });
}

describe("content types", () => {
  it.each(["/api/spell/execute", "/trpc/spell.execute"])(
    "%s accepts application/json; charset=utf-8 with its body intact",
    async (path) => {
      const response = await post(path, echo, { "content-type": "application/json; charset=utf-8" });
      expect(response.status).toBe(200);
      const result = path.startsWith("/api") ? response.body : response.body.result.data;
      expect(result.output).toEqual({ hello: "world" });
    },
  );

  it.each([
    ["/api/spell/execute", "text/plain"],
    ["/trpc/spell.execute", "text/plain"],
    ["/trpc/spell.execute", "application/x-www-form-urlencoded"],
    ["/api/spell/execute", "application/json; charset=latin1"],
  ])("%s refuses %s with 415 UNSUPPORTED_MEDIA_TYPE", async (path, contentType) => {
    const response = await post(path, echo, { "content-type": contentType });
    expect(response.status).toBe(415);
    const error = path.startsWith("/api") ? response.body.error : response.body.error.data;
    expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    if (path.startsWith("/api")) expect(response.body.ok).toBe(false);
  });

  it("refuses a POST without any content type", async () => {
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      headers: { "content-length": "0" },
    });
    expect(response.status).toBe(415);
  });
});

describe("malformed JSON", () => {
  it("answers 400 MALFORMED_JSON on REST in our body", async () => {
    const response = await post("/api/spell/execute", '{"spell": "echo@v1",', {});
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "MALFORMED_JSON", message: expect.any(String), details: {} },
    });
  });

  it("answers 400 MALFORMED_JSON on tRPC in error.data", async () => {
    const response = await post("/trpc/spell.execute", '{"spell": "echo@v1",', {});
    expect(response.status).toBe(400);
    expect(response.body.error.data).toMatchObject({ code: "MALFORMED_JSON", httpStatus: 400 });
  });
});

describe("413 PAYLOAD_TOO_LARGE", () => {
  const big = JSON.stringify({ spell: "echo@v1", input: { blob: "x".repeat(1024 * 1024 + 10) } });

  it.each(["/api/spell/execute", "/trpc/spell.execute"])("%s refuses a body over 1 MiB", async (path) => {
    const bob = await h.user();
    const response = await h.call("POST", path, { token: bob.token, body: big });
    expect(response.status).toBe(413);
    const error = path.startsWith("/api") ? response.body.error : response.body.error.data;
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await h.executionCount(bob.id)).toBe(0);
  });

  it("follows the configured limit", async () => {
    const small = await listen(
      createApp({ engine: h.engine, ping: () => h.testDb.database.ping(), maxBodySize: 256 }),
    );
    try {
      const send = (path: string, size: number) =>
        call(small.url, "POST", path, {
          token: alice.token,
          body: { spell: "echo@v1", input: { blob: "x".repeat(size) } },
        });
      expect((await send("/api/spell/execute", 100)).status).toBe(200);
      expect((await send("/api/spell/execute", 400)).status).toBe(413);
      expect((await send("/trpc/spell.execute", 100)).status).toBe(200);
      expect((await send("/trpc/spell.execute", 400)).status).toBe(413);
    } finally {
      await small.close();
    }
  });
});

describe("unknown routes and methods", () => {
  it.each([
    ["GET", "/api/nope"],
    ["POST", "/api/spell/nope"],
    ["GET", "/nowhere"],
    ["DELETE", "/"],
  ])("%s %s answers 404 NOT_FOUND in our body", async (method, path) => {
    const response = await h.call(method, path, { token: alice.token });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "NOT_FOUND", message: expect.any(String), details: expect.any(Object) },
    });
  });

  it("an unknown tRPC procedure answers NOT_FOUND in error.data", async () => {
    const response = await post("/trpc/spell.nope", "{}", {});
    expect(response.status).toBe(404);
    expect(response.body.error.data.code).toBe("NOT_FOUND");
  });

  it.each([
    ["GET", "/api/spell/execute", "POST"],
    ["POST", "/api/me", "GET"],
    ["PUT", "/api/admin/ban", "POST"],
    ["POST", "/api/openapi.json", "GET"],
  ])("%s %s answers 405 METHOD_NOT_ALLOWED with Allow", async (method, path, allow) => {
    const response = await h.call(method, path, {
      token: alice.token,
      ...(method === "POST" ? { body: {} } : {}),
    });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe(allow);
    expect(response.body.error.code).toBe("METHOD_NOT_ALLOWED");
  });

  it("a query called as a mutation on tRPC answers 405", async () => {
    const response = await post("/trpc/me", "{}", {});
    expect(response.status).toBe(405);
    expect(response.body.error.data.code).toBe("METHOD_NOT_ALLOWED");
  });
});

describe("regression: trpc-to-openapi coerces shared zod schemas", () => {
  it("strings are not coerced to numbers on either transport, even after REST calls", async () => {
    const admin = await h.admin();
    // A REST call makes trpc-to-openapi run its coercion over the publish input schema.
    await h.publish(
      { slug: "coerce@v1", runtime: "builtin", artifact: { builtin: "echo" }, priceAmount: 0 },
      admin,
    );
    const body = { slug: "coerce@v1", runtime: "builtin", artifact: { builtin: "echo" }, priceAmount: "5" };
    for (let round = 0; round < 2; round++) {
      const rest = await h.call("POST", "/api/admin/spells", { token: admin.token, body });
      expect(rest.status).toBe(400);
      expect(rest.body.error.details.issues[0].path).toEqual(["priceAmount"]);
      const trpc = await h.call("POST", "/trpc/admin.publish", { token: admin.token, body });
      expect(trpc.status).toBe(400);
      expect(trpc.body.error.data.details.issues[0].path).toEqual(["priceAmount"]);
    }
  });
});

describe("health", () => {
  it("/healthz answers while the process is up", async () => {
    expect(await h.call("GET", "/healthz")).toMatchObject({ status: 200, body: { ok: true } });
  });

  it("/readyz answers 200 while the database is reachable", async () => {
    expect(await h.call("GET", "/readyz")).toMatchObject({ status: 200, body: { ok: true } });
  });
});

describe.runIf(process.env.DATABASE_URL)("REST path parameters (/api/executions/{id})", () => {
  async function queued(caller: Caller = alice): Promise<{ id: string; location: string }> {
    const response = await h.call("POST", "/api/spell/execute", {
      token: caller.token,
      body: { spell: "echo@v1", input: { n: 1 } },
      headers: { prefer: "respond-async" },
    });
    expect(response.status).toBe(202);
    return { id: response.body.executionId, location: response.headers.get("location") ?? "" };
  }

  it("the 202's Location is /api/executions/{id}, and it reads the same as the ?id= alias", async () => {
    // Paused: both reads see the same (queued) state.
    await h.runWorker?.pause();
    const { id, location } = await queued();
    expect(location).toBe(`/api/executions/${id}`);
    const byPath = await h.call("GET", location, { token: alice.token });
    const byQuery = await h.call("GET", `/api/executions/get?id=${id}`, { token: alice.token });
    await h.runWorker?.resume();
    expect(byPath.status).toBe(200);
    expect(byPath.body.execution.executionId).toBe(id);
    expect(byQuery.status).toBe(200);
    expect({ ...byPath.body, requestId: undefined }).toEqual({ ...byQuery.body, requestId: undefined });
  });

  it("POST /api/executions/{id}/cancel needs no body; the body alias still cancels", async () => {
    await h.runWorker?.pause();
    try {
      const first = await queued();
      const canceled = await h.call("POST", `/api/executions/${first.id}/cancel`, { token: alice.token });
      expect(canceled.status).toBe(200);
      expect(canceled.body.execution).toMatchObject({ executionId: first.id, status: "canceled" });

      const second = await queued();
      const withBody = await h.call("POST", `/api/executions/${second.id}/cancel`, {
        token: alice.token,
        body: {},
      });
      expect(withBody.status).toBe(200);
      expect(withBody.body.execution.status).toBe("canceled");

      const third = await queued();
      const alias = await h.call("POST", "/api/executions/cancel", {
        token: alice.token,
        body: { id: third.id },
      });
      expect(alias.status).toBe(200);
      expect(alias.body.execution).toMatchObject({ executionId: third.id, status: "canceled" });
    } finally {
      await h.runWorker?.resume();
    }
  });

  it("the path's id wins over a body id: a caller cannot aim one route at another execution", async () => {
    await h.runWorker?.pause();
    try {
      const target = await queued();
      const other = await queued();
      const response = await h.call("POST", `/api/executions/${target.id}/cancel`, {
        token: alice.token,
        body: { id: other.id },
      });
      expect(response.status).toBe(200);
      expect(response.body.execution.executionId).toBe(target.id);
      const untouched = await h.call("GET", `/api/executions/${other.id}`, { token: alice.token });
      expect(untouched.body.execution.status).not.toBe("canceled");
    } finally {
      await h.runWorker?.resume();
    }
  });

  it("another user's execution is NOT_FOUND by path as by query", async () => {
    const { id } = await queued();
    const bob = await h.user();
    for (const path of [`/api/executions/${id}`, `/api/executions/get?id=${id}`]) {
      const response = await h.call("GET", path, { token: bob.token });
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe("NOT_FOUND");
    }
  });

  it.each([
    ["GET", "/api/executions/a/b/c", 404],
    ["GET", "/api/executions/%E0%A4%A", 404],
    ["GET", "/api/executions/x/cancel", 405],
    ["DELETE", "/api/executions/0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001", 405],
  ])("%s %s answers %i in our body", async (method, path, status) => {
    const response = await h.call(method, path, { token: alice.token });
    expect(response.status).toBe(status);
    expect(response.body.ok).toBe(false);
    if (status === 405) expect(response.headers.get("allow")).toBe(path.endsWith("/cancel") ? "POST" : "GET");
  });

  it("an unknown id by path answers the engine's 404, not the router's", async () => {
    const response = await h.call("GET", "/api/executions/0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001", {
      token: alice.token,
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("NOT_FOUND");
    expect(response.body.error.details).not.toHaveProperty("method");
  });
});
