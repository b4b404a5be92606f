import type { AppRouter } from "@spell/api";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { createFakeEngine } from "./testutil/fake-engine.ts";
import { call, type Listening, listen } from "./testutil/http.ts";

const SECRET = "postgres://admin:hunter2@10.0.0.5/prod";
const logged: unknown[] = [];
let server: Listening;
let pingFails = false;

beforeAll(async () => {
  const engine = createFakeEngine({
    executeSpell: async () => {
      throw new Error(`connection refused ${SECRET}`);
    },
  });
  const app = createApp({
    engine,
    ping: async () => {
      if (pingFails) throw new Error("database down");
    },
    logger: { error: (_message, error) => logged.push(error) },
  });
  server = await listen(app);
});
afterAll(() => server.close());

describe("unexpected failures", () => {
  it("answer 500 INTERNAL_ERROR on REST with nothing internal and are logged", async () => {
    logged.length = 0;
    const response = await call(server.url, "POST", "/api/spell/execute", {
      token: "alice",
      body: { spell: "echo@v1" },
    });
    expect(response.status).toBe(500);
    expect(response.body).toEqual({
      ok: false,
      requestId: expect.any(String),
      error: { code: "INTERNAL_ERROR", message: "Internal error", details: {} },
    });
    expect(JSON.stringify(response.body)).not.toContain("hunter2");
    expect(logged).toHaveLength(1);
  });

  it("answer INTERNAL_ERROR on tRPC with no stack", async () => {
    const client = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${server.url}/trpc`, headers: { authorization: "Bearer alice" } })],
    });
    const error = await client.spell.execute.mutate({ spell: "echo@v1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCClientError);
    const clientError = error as TRPCClientError<AppRouter>;
    expect(clientError.data).toEqual({
      code: "INTERNAL_ERROR",
      httpStatus: 500,
      details: {},
      path: "spell.execute",
      requestId: expect.any(String),
    });
    expect(clientError.message).toBe("Internal error");
    expect(JSON.stringify(clientError.shape)).not.toContain("hunter2");
  });

  it("client errors are answered but not logged", async () => {
    logged.length = 0;
    const response = await call(server.url, "POST", "/api/spell/execute", { body: { spell: "NOPE" } });
    expect(response.status).toBe(400);
    expect(logged).toHaveLength(0);
  });

  it("/readyz answers 503 SERVICE_UNAVAILABLE in our body when the database is down", async () => {
    pingFails = true;
    const down = await call(server.url, "GET", "/readyz");
    pingFails = false;
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ ok: false, error: { code: "SERVICE_UNAVAILABLE", details: {} } });
    expect(JSON.stringify(down.body)).not.toContain("database down");
    expect((await call(server.url, "GET", "/readyz")).status).toBe(200);
  });
});
