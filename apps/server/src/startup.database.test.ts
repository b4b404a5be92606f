import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnv } from "./env.ts";
import {
  DatabaseUnavailableError,
  describeDatabase,
  isTransientConnectError,
  retryWithBackoff,
} from "./observability/start-retry.ts";
import { capturedLogger } from "./observability/testing.ts";
import { startServer } from "./server.ts";

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });

describe("retryWithBackoff", () => {
  it("retries transient failures with doubling, capped waits, then succeeds", async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retryWithBackoff(
      async () => {
        calls += 1;
        if (calls < 5) throw refused();
        return "connected";
      },
      { retries: 10, baseDelayMs: 100, maxDelayMs: 500, sleep: async (ms) => waits.push(ms) },
    );
    expect(result).toBe("connected");
    expect(waits).toEqual([100, 200, 400, 500]);
  });

  it("gives up after the last retry with the last error", async () => {
    let calls = 0;
    const attempt = async () => {
      calls += 1;
      throw refused();
    };
    await expect(retryWithBackoff(attempt, { retries: 2, sleep: async () => {} })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    expect(calls).toBe(3);
  });

  it("does not retry what waiting cannot fix (a wrong password, a broken migration)", async () => {
    let calls = 0;
    const attempt = async () => {
      calls += 1;
      throw Object.assign(new Error("password authentication failed"), { code: "28P01" });
    };
    await expect(retryWithBackoff(attempt, { retries: 5, sleep: async () => {} })).rejects.toThrow(
      /password/,
    );
    expect(calls).toBe(1);
  });

  it("recognises connection failures nested in an AggregateError or a cause", () => {
    expect(isTransientConnectError(new AggregateError([refused()]))).toBe(true);
    expect(isTransientConnectError(new Error("wrapped", { cause: refused() }))).toBe(true);
    expect(isTransientConnectError(new Error("syntax error"))).toBe(false);
  });

  it("describes a database without its password", () => {
    expect(describeDatabase("postgresql://app:hunter2@db.internal:5432/spell")).toBe(
      "db.internal:5432/spell",
    );
  });
});

/** A port nothing listens on yet (taken and released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Forwards every connection on `port` to `target` (the real database), once started. */
function tcpProxy(port: number, target: URL): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}

describe("start with the database down, then up", () => {
  let testDb: TestDatabase;
  let dataDir: string;
  beforeAll(async () => {
    testDb = await createTestDatabase({ url: process.env.DATABASE_URL });
    dataDir = await mkdtemp(join(tmpdir(), "spell-start-"));
  });
  afterAll(async () => {
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("waits for the database with backoff and serves once it answers", async () => {
    const port = await freePort();
    const real = new URL(testDb.url);
    const viaProxy = new URL(testDb.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(port);
    const env = parseEnv({
      PORT: "0",
      DATABASE_URL: viaProxy.toString(),
      SPELL_DATA_DIR: dataDir,
      SPELL_BILLING: "none",
      SPELL_SEED_DEMOS: "0",
      SPELL_DB_START_RETRIES: "8",
    });
    const { log, lines } = capturedLogger();
    const starting = startServer(env, { log, wasm: false });
    // The database "comes up" after the first attempts were refused.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const proxy = await tcpProxy(port, real);
    const server = await starting;
    try {
      const retries = lines().filter((line) => line.msg?.toString().includes("not reachable, retrying"));
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries[0]).toMatchObject({ level: "warn", reason: "ECONNREFUSED" });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      // Demo seeding was switched off.
      const spells = await server.database.spells.findBySlug("echo@v1", "spell-system");
      expect(spells).toBeNull();
    } finally {
      await server.close();
      await proxy.close();
    }
  });

  it("gives up with one line naming the database, not a stack", async () => {
    const port = await freePort();
    const env = parseEnv({
      PORT: "0",
      DATABASE_URL: `postgresql://app:hunter2@127.0.0.1:${port}/spell`,
      SPELL_DATA_DIR: dataDir,
      SPELL_BILLING: "none",
      SPELL_DB_START_RETRIES: "1",
    });
    const { log } = capturedLogger();
    const error = await startServer(env, { log, wasm: false }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    const message = (error as Error).message;
    expect(message).toBe(`database 127.0.0.1:${port}/spell not reachable (ECONNREFUSED) after 2 attempt(s)`);
    expect(message).not.toContain("hunter2");
  });
});
