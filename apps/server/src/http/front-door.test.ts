import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../app.ts";
import { createFakeEngine } from "../testutil/fake-engine.ts";
import { type Listening, listen } from "../testutil/http.ts";
import { createFrontDoor } from "./front-door.ts";

const MAX_BODY = 256;

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  text: string;
}

/** One request with exactly these headers and this framing (`chunked`: no Content-Length). */
function send(
  base: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method: "POST", headers: options.headers ?? {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    const body = options.body;
    if (body === undefined) return req.end();
    if (options.chunked) {
      req.setHeader("Transfer-Encoding", "chunked");
      req.write(body);
      return req.end();
    }
    req.setHeader("Content-Length", Buffer.byteLength(body));
    req.end(body);
  });
}

/** What must be the same whichever way a request went: status, type, body without its request id. */
function comparable(answer: Answer) {
  const body = answer.text ? (JSON.parse(answer.text) as Record<string, unknown>) : null;
  if (body && typeof body === "object") delete body.requestId;
  const error = (body?.error as { data?: Record<string, unknown> } | undefined)?.data;
  if (error) delete error.requestId;
  return {
    status: answer.status,
    contentType: answer.headers["content-type"],
    length:
      answer.headers["content-length"] === undefined ? undefined : Number(answer.headers["content-length"]),
    body,
  };
}

const fake = createFakeEngine();
const engine = createFakeEngine({
  // The fake's own execute (401 without a token, the input echoed), plus a failing engine.
  executeSpell: async (authorization, request) => {
    if (request.spell === "boom@v1") throw new Error("a bug in the engine");
    return fake.executeSpell(authorization, request);
  },
});

let server: Listening;
beforeAll(async () => {
  server = await listen(
    createApp({ engine, ping: async () => undefined, maxBodySize: MAX_BODY, logger: { error: () => {} } }),
  );
});
afterAll(() => server.close());

const token = { authorization: "Bearer user-1" };
/** The front door's content type, and one Express normalises to it (the door passes it on). */
const DOOR = "application/json";
const EXPRESS = "application/json; charset=utf-8";

/** The same request through the front door and through Express. */
async function both(path: string, options: Parameters<typeof send>[2] = {}) {
  const door = await send(server.url, path, {
    ...options,
    headers: { ...options.headers, "content-type": DOOR },
  });
  const express = await send(server.url, path, {
    ...options,
    headers: { ...options.headers, "content-type": EXPRESS },
  });
  return { door, express };
}

describe("the front door answers like Express (happy)", () => {
  const cases: Array<
    [string, { headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean }]
  > = [
    ["a plain execute", { headers: token, body: JSON.stringify({ spell: "echo@v1", input: { a: 1 } }) }],
    [
      "a chunked body",
      { headers: token, body: JSON.stringify({ spell: "echo@v1", input: { a: "ü" } }), chunked: true },
    ],
    [
      "a body with a byte-order mark",
      {
        headers: token,
        body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"spell":"echo@v1","input":{}}')]),
      },
    ],
  ];
  for (const [name, options] of cases) {
    it(`REST: ${name}`, async () => {
      const { door, express } = await both("/api/spell/execute", options);
      expect(door.status).toBe(200);
      expect(comparable(door)).toEqual(comparable(express));
      expect(door.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    });
  }

  it("keeps the caller's request id, as Express's chain does", async () => {
    const door = await send(server.url, "/api/spell/execute", {
      headers: { ...token, "content-type": DOOR, "x-request-id": "trace-42" },
      body: '{"spell":"echo@v1","input":{}}',
    });
    expect(door.headers["x-request-id"]).toBe("trace-42");
  });

  it("tRPC: a plain execute", async () => {
    const body = JSON.stringify({ spell: "echo@v1", input: { a: 1 } });
    const { door, express } = await both("/trpc/spell.execute", { headers: token, body });
    expect(door.status).toBe(200);
    expect(comparable(door)).toEqual(comparable(express));
    expect(door.headers.vary).toBe(express.headers.vary);
  });
});

describe("the front door answers like Express (errors)", () => {
  const cases: Array<
    [string, { headers?: Record<string, string>; body?: string; chunked?: boolean }, number]
  > = [
    ["no token", { body: '{"spell":"echo@v1","input":{}}' }, 401],
    ["malformed JSON", { headers: token, body: '{"spell":' }, 400],
    ["a string at the top level (strict JSON)", { headers: token, body: '"echo@v1"' }, 400],
    ["a number at the top level", { headers: token, body: "42" }, 400],
    ["whitespace only", { headers: token, body: " \n\t " }, 400],
    ["an empty body", { headers: token, body: "" }, 400],
    ["no body at all", { headers: token }, 400],
    ["an array", { headers: token, body: "[1,2]" }, 400],
    ["wrong types", { headers: token, body: '{"spell":42,"input":"x"}' }, 400],
    [
      "a body over the limit",
      { headers: token, body: JSON.stringify({ spell: "echo@v1", input: { x: "y".repeat(400) } }) },
      413,
    ],
    [
      "a chunked body over the limit",
      {
        headers: token,
        body: JSON.stringify({ spell: "echo@v1", input: { x: "y".repeat(400) } }),
        chunked: true,
      },
      413,
    ],
    ["an engine failure", { headers: token, body: '{"spell":"boom@v1","input":{}}' }, 500],
  ];
  for (const [name, options, status] of cases) {
    it(`REST: ${name} → ${status}`, async () => {
      const { door, express } = await both("/api/spell/execute", options);
      expect(door.status).toBe(status);
      expect(comparable(door)).toEqual(comparable(express));
      expect(JSON.parse(door.text)).toMatchObject({ ok: false, error: { code: expect.any(String) } });
    });
  }

  for (const [name, body, status] of [
    ["no token", '{"spell":"echo@v1","input":{}}', 401],
    ["malformed JSON", '{"spell":', 400],
    ["a body over the limit", JSON.stringify({ spell: "echo@v1", input: { x: "y".repeat(400) } }), 413],
  ] as const) {
    it(`tRPC: ${name} → ${status}`, async () => {
      const headers = name === "no token" ? {} : token;
      const { door, express } = await both("/trpc/spell.execute", { headers: headers, body });
      expect(door.status).toBe(status);
      expect(comparable(door)).toEqual(comparable(express));
    });
  }
});

describe("which requests the front door takes", () => {
  const door = createFrontDoor({
    maxBodySize: MAX_BODY,
    begin: () => ({ facts: {} }),
    restRoute: { procedure: "spell.execute", type: "mutation" },
    answerRest: async () => {},
    createContext: () => ({ engine, authorization: undefined, idempotencyKey: undefined }),
    trpc: () => {},
    decorate: () => undefined,
    onUnexpected: () => {},
  });
  const fake = (method: string, url: string, headers: Record<string, string>) =>
    [
      Object.assign(Object.create(null), {
        method,
        url,
        headers,
        on: () => {},
        off: () => {},
        resume: () => {},
      }) as IncomingMessage,
      { setHeader: () => {} } as unknown as ServerResponse,
    ] as const;
  const json = { "content-type": "application/json" };

  it("takes the plain execute of each transport", () => {
    expect(door(...fake("POST", "/api/spell/execute", json))).toBe(true);
    expect(door(...fake("POST", "/trpc/spell.execute", json))).toBe(true);
  });

  it("leaves everything else to Express", () => {
    for (const [method, url, headers] of [
      ["GET", "/api/spell/execute", json],
      ["POST", "/api/spell/execute?x=1", json],
      ["POST", "/api/spell/execute/", json],
      ["POST", "/api/spell/estimate", json],
      ["POST", "/trpc/spell.execute?batch=1", json],
      ["POST", "/api/spell/execute", { "content-type": "application/json; charset=utf-8" }],
      ["POST", "/api/spell/execute", { "content-type": "text/plain" }],
      ["POST", "/api/spell/execute", {}],
      ["POST", "/api/spell/execute", { ...json, "content-encoding": "gzip" }],
      ["POST", "/trpc/spell.execute", { ...json, "trpc-accept": "application/jsonl" }],
    ] as const) {
      expect(door(...fake(method, url, headers))).toBe(false);
    }
  });
});

describe("the front door under a failing write (security)", () => {
  it("cuts the connection and reports it when writing an answer throws, and the process goes on", async () => {
    const reported: unknown[] = [];
    const door = createFrontDoor({
      maxBodySize: MAX_BODY,
      begin: () => ({ facts: {} }),
      restRoute: { procedure: "spell.execute", type: "mutation" },
      answerRest: async () => {
        throw new Error("the socket refused the write");
      },
      createContext: () => ({ engine, authorization: undefined, idempotencyKey: undefined }),
      trpc: () => {},
      decorate: () => undefined,
      onUnexpected: (error) => reported.push(error),
    });
    const broken = await listen((req, res) => {
      door(req, res);
    });
    try {
      await expect(
        send(broken.url, "/api/spell/execute", { headers: { "content-type": DOOR }, body: "{}" }),
      ).rejects.toThrow(/socket hang up|ECONNRESET/);
      expect(reported).toHaveLength(1);
      // The server still answers the next request on a new connection.
      await expect(
        send(broken.url, "/api/spell/execute", { headers: { "content-type": DOOR }, body: "{}" }),
      ).rejects.toThrow(/socket hang up|ECONNRESET/);
      expect(reported).toHaveLength(2);
    } finally {
      await broken.close();
    }
  });
});
