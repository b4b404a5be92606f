import type { IncomingMessage } from "node:http";
import { appErrorFromTRPC, appRouter, type Context } from "@spell/api";
import { AppError } from "@spell/contracts";
import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFakeEngine } from "../testutil/fake-engine.ts";
import { type Listening, listen } from "../testutil/http.ts";
import { requireJsonBody } from "./guards.ts";
import { createLeanTrpcHandler } from "./trpc-lean.ts";

/**
 * The lean handler must answer exactly what tRPC's own adapter answers (status, body, the headers
 * a client reads), for successes and every kind of error, and pass everything else on.
 */
const MAX_BODY = 512;
const engine = createFakeEngine({
  executeSpell: async (authorization, request) => {
    if (!authorization)
      throw new AppError("UNAUTHORIZED", "Missing bearer token", { reason: "missing_token" });
    if (request.spell === "boom@v1") throw new Error("an internal failure");
    if (request.spell === "private@v1") throw new AppError("SPELL_NOT_FOUND", "No such spell", {});
    return {
      ok: true,
      executionId: "exe_fake",
      spell: { slug: request.spell, runtime: "builtin" },
      output: request.input,
      billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
      durationMs: 0,
    };
  },
});
const createContext = (req: IncomingMessage): Context => ({
  engine,
  authorization: req.headers.authorization,
  idempotencyKey: req.headers["idempotency-key"] as string | undefined,
});
const adapter = () =>
  createExpressMiddleware({
    router: appRouter,
    allowBatching: false,
    maxBodySize: MAX_BODY,
    createContext: ({ req }) => createContext(req),
  });

/** tRPC's adapter alone (the reference), the lean handler in front of it, the lean handler alone. */
let reference: Listening;
let lean: Listening;
let leanOnly: Listening;
const leanErrors: string[] = [];
beforeAll(async () => {
  const referenceApp = express();
  referenceApp.use("/trpc", requireJsonBody("trpc"), adapter());
  reference = await listen(referenceApp);

  const handler = createLeanTrpcHandler({
    router: appRouter,
    createContext,
    maxBodySize: MAX_BODY,
    onError: ({ error, path }) => leanErrors.push(`${path}:${appErrorFromTRPC(error).code}`),
  });
  const leanApp = express();
  leanApp.use("/trpc", requireJsonBody("trpc"), handler, adapter());
  lean = await listen(leanApp);

  const onlyApp = express();
  onlyApp.use("/trpc", requireJsonBody("trpc"), handler, (_req, res) => {
    res.status(599).json({ passedOn: true });
  });
  leanOnly = await listen(onlyApp);
});
afterAll(async () => {
  await Promise.all([reference?.close(), lean?.close(), leanOnly?.close()]);
});

interface Case {
  name: string;
  method: "GET" | "POST";
  path: string;
  body?: string;
  token?: string;
  headers?: Record<string, string>;
}

async function send(baseUrl: string, c: Case) {
  const headers: Record<string, string> = { ...c.headers };
  if (c.token !== undefined) headers.authorization = `Bearer ${c.token}`;
  if (c.body !== undefined) headers["content-type"] ??= "application/json";
  const response = await fetch(baseUrl + c.path, {
    method: c.method,
    headers,
    ...(c.body !== undefined ? { body: c.body } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    vary: response.headers.get("vary"),
    allow: response.headers.get("allow"),
    body: JSON.parse(text) as unknown,
  };
}

const execute = (body: unknown) => JSON.stringify(body);
const input = (value: unknown) => `?input=${encodeURIComponent(JSON.stringify(value))}`;

/** Served by the lean handler itself. */
const handled: Case[] = [
  {
    name: "execute succeeds",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: execute({ spell: "echo@v1", input: { hello: "world" } }),
  },
  {
    name: "execute without a token: 401",
    method: "POST",
    path: "/trpc/spell.execute",
    body: execute({ spell: "echo@v1", input: {} }),
  },
  {
    name: "execute of a spell the caller cannot see",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: execute({ spell: "private@v1", input: {} }),
  },
  {
    name: "an unexpected failure is INTERNAL_ERROR without its message",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: execute({ spell: "boom@v1", input: {} }),
  },
  {
    name: "malformed JSON: 400 MALFORMED_JSON",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: '{"spell": "echo@v1",',
  },
  {
    name: "input that fails the schema: 400 VALIDATION_ERROR with issues",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: execute({ spell: 42 }),
  },
  {
    name: "an empty body is no input",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: "",
  },
  {
    name: "a body over the limit: 413 PAYLOAD_TOO_LARGE",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    body: execute({ spell: "echo@v1", input: { blob: "x".repeat(MAX_BODY * 4) } }),
  },
  {
    name: "an authenticated mutation refuses before reading a malformed body",
    method: "POST",
    path: "/trpc/admin.ban",
    body: "{not json",
  },
  {
    name: "a non-admin on an admin mutation",
    method: "POST",
    path: "/trpc/admin.ban",
    token: "alice",
    body: execute({ userId: "bob" }),
  },
  { name: "query me", method: "GET", path: "/trpc/me", token: "alice" },
  { name: "query me, banned caller", method: "GET", path: "/trpc/me", token: "banned-bob" },
  { name: "query me without a token", method: "GET", path: "/trpc/me" },
  { name: "query with an input", method: "GET", path: `/trpc/spell.list${input({})}`, token: "alice" },
  {
    name: "query with malformed input JSON",
    method: "GET",
    path: "/trpc/spell.list?input=%7Bnope",
    token: "alice",
  },
  {
    name: "query with an invalid input",
    method: "GET",
    path: `/trpc/spell.list${input({ cursor: 7, limit: "x" })}`,
    token: "alice",
  },
  {
    name: "billing not configured",
    method: "POST",
    path: "/trpc/billing.checkoutUrl",
    token: "alice",
    body: execute({}),
  },
];

/** Passed on to tRPC's adapter, which answers them. */
const passedOn: Case[] = [
  { name: "unknown procedure", method: "POST", path: "/trpc/spell.nope", token: "alice", body: "{}" },
  { name: "a query called by POST: 405", method: "POST", path: "/trpc/me", token: "alice", body: "{}" },
  { name: "a mutation called by GET: 405", method: "GET", path: "/trpc/spell.execute", token: "alice" },
  {
    name: "a batch",
    method: "POST",
    path: "/trpc/spell.execute,spell.execute?batch=1",
    token: "alice",
    body: JSON.stringify({ 0: { spell: "echo@v1", input: {} }, 1: { spell: "echo@v1", input: {} } }),
  },
  {
    name: "a GET batch",
    method: "GET",
    path: `/trpc/me?batch=1&input=${encodeURIComponent("{}")}`,
    token: "alice",
  },
  {
    name: "streaming requested",
    method: "POST",
    path: "/trpc/spell.execute",
    token: "alice",
    headers: { "trpc-accept": "application/jsonl" },
    body: execute({ spell: "echo@v1", input: {} }),
  },
  { name: "a nested path", method: "GET", path: "/trpc/x/me", token: "alice" },
  { name: "a prototype key", method: "GET", path: "/trpc/constructor", token: "alice" },
];

describe("lean /trpc handler answers as tRPC's adapter does", () => {
  it.each(handled)("$name", async (c) => {
    const [expected, actual, alone] = await Promise.all([
      send(reference.url, c),
      send(lean.url, c),
      send(leanOnly.url, c),
    ]);
    expect(alone.status).not.toBe(599); // served by the lean handler, not passed on
    expect(actual).toEqual(expected);
    expect(alone).toEqual(expected);
    expect(actual.contentType).toBe("application/json");
  });

  it.each(passedOn)("passes on: $name", async (c) => {
    const [expected, actual, alone] = await Promise.all([
      send(reference.url, c),
      send(lean.url, c),
      send(leanOnly.url, c),
    ]);
    expect(alone.status).toBe(599);
    expect(actual).toEqual(expected);
  });

  it("error bodies carry our code, status and details in error.data", async () => {
    const response = await send(lean.url, handled[1] as Case);
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({
      error: {
        message: "Missing bearer token",
        data: {
          code: "UNAUTHORIZED",
          httpStatus: 401,
          details: { reason: "missing_token" },
          path: "spell.execute",
        },
      },
    });
  });

  it("reports every failed call to onError with its path", async () => {
    leanErrors.length = 0;
    await send(leanOnly.url, handled[1] as Case);
    await send(leanOnly.url, handled[4] as Case);
    expect(leanErrors).toEqual(["spell.execute:UNAUTHORIZED", "spell.execute:MALFORMED_JSON"]);
  });

  it("serves calls that arrive together on one connection each in order", async () => {
    const bodies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        send(leanOnly.url, {
          name: "concurrent",
          method: "POST",
          path: "/trpc/spell.execute",
          token: `user-${i}`,
          body: execute({ spell: "echo@v1", input: { i } }),
        }),
      ),
    );
    expect(
      bodies.map((b) => (b.body as { result: { data: { output: { i: number } } } }).result.data.output.i),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});
