import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import type { Engine } from "@spell/engine";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { HTTP_SERVER_OPTIONS, hardenHttpServer } from "./http/limits.ts";
import { createFakeEngine } from "./testutil/fake-engine.ts";

/**
 * The edge, attacked below the routers: what a hostile client does with raw sockets, slow bytes,
 * odd encodings and batches. Every refusal is the unified JSON error, and nothing reaches the engine.
 */
let server: Server;
let port: number;
let executions: unknown[] = [];

beforeAll(async () => {
  const engine: Engine = createFakeEngine({
    executeSpell: async (_authorization, request) => {
      executions.push(request);
      return {
        ok: true,
        executionId: "e1",
        spell: { slug: request.spell, runtime: "builtin" },
        output: request.input,
        billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
        durationMs: 0,
      };
    },
  });
  const app = createApp({ engine, ping: async () => undefined, logger: { error: () => undefined } });
  server = createServer(HTTP_SERVER_OPTIONS, app);
  hardenHttpServer(server, {
    headersTimeoutMs: 300,
    requestTimeoutMs: 600,
    keepAliveTimeoutMs: 1_000,
    maxConnectionsPerClient: 8,
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  executions = [];
});

/** Writes raw bytes, returns everything the server sent until it closed the connection. */
async function raw(bytes: string | Buffer, options: { keepOpenMs?: number } = {}): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let answer = "";
  socket.on("data", (chunk) => {
    answer += chunk.toString();
  });
  socket.write(bytes);
  if (options.keepOpenMs === undefined) socket.end();
  const closed = once(socket, "close");
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, options.keepOpenMs ?? 5_000))]);
  socket.destroy();
  return answer;
}

function parseRaw(answer: string): { status: number; contentType: string; body: unknown } {
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  const status = Number(head.split(" ")[1]);
  const contentType = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? "";
  return { status, contentType, body: JSON.parse(body) };
}

async function post(path: string, body: Buffer | string, headers: Record<string, string>) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { authorization: "Bearer alice", "content-type": "application/json", ...headers },
    body,
  });
  return {
    status: response.status,
    body: (await response.json()) as { ok: boolean; error?: { code: string } },
  };
}

describe("the HTTP parser's refusals are JSON", () => {
  it("answers oversized headers with 431 HEADERS_TOO_LARGE in the unified body", async () => {
    const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    const { status, contentType, body } = parseRaw(answer);
    expect(status).toBe(431);
    expect(contentType).toContain("application/json");
    expect(body).toMatchObject({ ok: false, error: { code: "HEADERS_TOO_LARGE", details: {} } });
  });

  it("answers a request line that is not HTTP with 400 in the unified body", async () => {
    const { status, body } = parseRaw(await raw("HELLO THERE\r\n\r\n"));
    expect(status).toBe(400);
    expect(body).toMatchObject({ ok: false, error: { code: "VALIDATION_ERROR" } });
  });

  it("closes a client that sends its headers too slowly (slowloris) with 408 in the unified body", async () => {
    const answer = await raw("POST /api/spell/execute HTTP/1.1\r\nHost: x\r\n", { keepOpenMs: 4_000 });
    const { status, body } = parseRaw(answer);
    expect(status).toBe(408);
    expect(body).toMatchObject({ ok: false, error: { code: "REQUEST_TIMEOUT" } });
    expect(executions).toHaveLength(0);
  });

  it("closes a client that never finishes its body with 408, and nothing runs", async () => {
    const head =
      "POST /api/spell/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\n" +
      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    const { status } = parseRaw(await raw(head, { keepOpenMs: 4_000 }));
    expect(status).toBe(408);
    expect(executions).toHaveLength(0);
  });
});

describe("one client cannot hold the server", () => {
  it("refuses connections past the per-client cap with 503 JSON while the first ones still work", async () => {
    const held: Socket[] = [];
    for (let index = 0; index < 8; index++) {
      const socket = connect(port, "127.0.0.1");
      await once(socket, "connect");
      held.push(socket);
    }
    try {
      const { status, body } = parseRaw(await raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
      expect(status).toBe(503);
      expect(body).toMatchObject({
        ok: false,
        error: { code: "SERVICE_UNAVAILABLE", details: { limit: 8 } },
      });
    } finally {
      for (const socket of held) socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthy.status).toBe(200);
  });
});

describe("bodies the routes cannot read", () => {
  it("refuses a compressed body on /trpc with 415, nothing run", async () => {
    const body = gzipSync(JSON.stringify({ spell: "echo@v1", input: {} }));
    const response = await post("/trpc/spell.execute", body, { "content-encoding": "gzip" });
    expect(response.status).toBe(415);
    expect(executions).toHaveLength(0);
  });

  it("refuses an unknown Content-Encoding on REST with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    const response = await post("/api/spell/execute", "{}", { "content-encoding": "x-evil" });
    expect(response).toMatchObject({
      status: 415,
      body: { ok: false, error: { code: "UNSUPPORTED_MEDIA_TYPE" } },
    });
  });

  it("refuses a corrupt gzip body on REST with 400, not 500", async () => {
    const corrupt = Buffer.concat([gzipSync("{}").subarray(0, 10), Buffer.from("garbage")]);
    const response = await post("/api/spell/execute", corrupt, { "content-encoding": "gzip" });
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe("VALIDATION_ERROR");
    expect(executions).toHaveLength(0);
  });

  it("accepts a well-formed gzip body on REST", async () => {
    const body = gzipSync(JSON.stringify({ spell: "echo@v1", input: { zipped: true } }));
    const response = await post("/api/spell/execute", body, { "content-encoding": "gzip" });
    expect(response.status).toBe(200);
    expect(executions).toHaveLength(1);
  });

  it("refuses a tRPC batch: one request, one procedure", async () => {
    const batch = JSON.stringify(Object.fromEntries([0, 1, 2].map((i) => [i, { spell: "echo@v1" }])));
    const response = await post("/trpc/spell.execute,spell.execute,spell.execute?batch=1", batch, {});
    expect(response.status).toBe(400);
    expect(executions).toHaveLength(0);
  });
});

describe("values Postgres cannot store are refused before the engine", () => {
  it.each([
    ["U+0000 in a value", '{"spell":"echo@v1","input":{"text":"a\\u0000b"}}', ["input", "text"]],
    ["U+0000 in a key", '{"spell":"echo@v1","input":{"k\\u0000":1}}', ["input", "k\u0000"]],
    ["a lone surrogate", '{"spell":"echo@v1","input":{"t":"\\ud800"}}', ["input", "t"]],
    ["a number past float range", '{"spell":"echo@v1","input":{"n":1e400}}', ["input", "n"]],
  ])("%s → 400 VALIDATION_ERROR with the path", async (_name, body, path) => {
    for (const route of ["/api/spell/execute", "/trpc/spell.execute"]) {
      const response = await fetch(`http://127.0.0.1:${port}${route}`, {
        method: "POST",
        headers: { authorization: "Bearer alice", "content-type": "application/json" },
        body,
      });
      expect(response.status, route).toBe(400);
      expect(JSON.stringify(await response.json()), route).toContain(JSON.stringify(path));
    }
    expect(executions).toHaveLength(0);
  });

  it("refuses U+0000 in any procedure's plain string fields (a user id), before the engine sees it", async () => {
    const body = '{"teamId":"t1","userId":"bob\\u0000","action":"add"}';
    for (const route of ["/api/admin/teams/members", "/trpc/admin.teamMembers"]) {
      const response = await fetch(`http://127.0.0.1:${port}${route}`, {
        method: "POST",
        headers: { authorization: "Bearer admin:root", "content-type": "application/json" },
        body,
      });
      expect(response.status, route).toBe(400);
      expect(JSON.stringify(await response.json()), route).toContain("nul_character");
    }
  });

  it("refuses JSON nested thousands of levels deep (well under the body limit) with 400", async () => {
    const deep = `${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}`;
    for (const route of ["/api/spell/execute", "/trpc/spell.execute"]) {
      const response = await fetch(`http://127.0.0.1:${port}${route}`, {
        method: "POST",
        headers: { authorization: "Bearer alice", "content-type": "application/json" },
        body: `{"spell":"echo@v1","input":${deep}}`,
      });
      expect(response.status, route).toBe(400);
    }
    expect(executions).toHaveLength(0);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});
