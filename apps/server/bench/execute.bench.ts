/**
 * POST /api/spell/execute (echo@v1) against a floor: a bare Express route that verifies the same
 * JWT with jose and does one indexed read of the user. Target: ≥ 0.6x the floor's throughput with
 * p99 within 2x. Each server runs in its own child process (so autocannon does not share its event
 * loop), on the same database (DATABASE_URL's server, else an embedded one), loopback only.
 *
 *   pnpm --filter @spell/server bench            BENCH_DURATION=4 BENCH_ROUNDS=3 BENCH_CONNECTIONS=20
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrustedIssuerConfig } from "@spell/auth";
import { createNoBilling } from "@spell/billing";
import { createDatabase, migrateDatabase, startEmbeddedPostgres } from "@spell/db";
import { createTestDatabase } from "@spell/db/testing";
import autocannon from "autocannon";
import express from "express";
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from "jose";
import pg from "pg";
import { createApp } from "../src/app.ts";
import { composeEngine } from "../src/compose-engine.ts";
import { parseEnv } from "../src/env.ts";
import { BUILTIN_DEMOS, seedDemoSpells } from "../src/server.ts";

const ISSUER = "https://bench.test";
const AUDIENCE = "spell";
const USER = "bench-user";
const POOL_SIZE = 10;

interface ServeConfig {
  role: "floor" | "app" | "app-nocache";
  databaseUrl: string;
  jwk: JWK;
}

// ---- child: one server --------------------------------------------------------------------------

async function serveFloor(config: ServeConfig): Promise<express.Express> {
  const jwks = createLocalJWKSet({ keys: [config.jwk] });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: POOL_SIZE });
  const app = express();
  app.post("/api/spell/execute", express.json({ limit: "1mb" }), async (req, res) => {
    try {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      const { payload } = await jwtVerify(token, jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ["ES256"],
        clockTolerance: 30,
      });
      const { rows } = await pool.query({
        name: "floor_user",
        text: "SELECT id, status FROM users WHERE id = $1",
        values: [payload.sub],
      });
      res.json({ ok: true, user: rows[0]?.id ?? null, output: req.body.input });
    } catch {
      res.status(401).json({ ok: false });
    }
  });
  return app;
}

async function serveApp(config: ServeConfig): Promise<express.Express> {
  const database = createDatabase({ url: config.databaseUrl, poolSize: POOL_SIZE });
  const issuers: TrustedIssuerConfig[] = [{ issuer: ISSUER, jwks: { keys: [config.jwk as never] } }];
  const engine = composeEngine({
    env: parseEnv({
      NODE_ENV: "production",
      DATABASE_URL: config.databaseUrl,
      SPELL_SIGNING_KEY: "k".repeat(32),
      SPELL_TRUSTED_ISSUERS: JSON.stringify(issuers),
      // The second app run verifies the signature on every request, like the floor.
      SPELL_TOKEN_CACHE_SIZE: config.role === "app-nocache" ? "0" : undefined,
    }),
    ports: database,
    issuers,
    billing: createNoBilling(),
    wasm: false,
  });
  return createApp({ engine, ping: () => database.ping(), logger: { error: () => {} } });
}

async function child(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_SERVE ?? "") as ServeConfig;
  const app = config.role === "floor" ? await serveFloor(config) : await serveApp(config);
  const server = app.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.send?.({ port: typeof address === "object" && address ? address.port : 0 });
  });
  process.on("disconnect", () => process.exit(0));
}

// ---- parent: set up, load, compare --------------------------------------------------------------

function startChild(config: ServeConfig): Promise<{ url: string; stop: () => void }> {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, BENCH_SERVE: JSON.stringify(config), NODE_ENV: "production" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`${config.role} server exited with ${code}`)));
    proc.once("message", (message: { port: number }) =>
      resolve({ url: `http://127.0.0.1:${message.port}`, stop: () => proc.kill("SIGTERM") }),
    );
  });
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string, token: string, duration: number, connections: number): Promise<Measured> {
  const result = await autocannon({
    url: `${url}/api/spell/execute`,
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ spell: "echo@v1", input: { hello: "world" } }),
    connections,
    duration,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function main(): Promise<void> {
  const env = parseEnv();
  const duration = Number(process.env.BENCH_DURATION ?? 4);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);

  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  try {
    let databaseUrl: string;
    if (env.databaseUrl) {
      const testDb = await createTestDatabase({ url: env.databaseUrl });
      cleanups.push(() => testDb.drop());
      databaseUrl = testDb.url;
    } else {
      const dir = await mkdtemp(join(tmpdir(), "spell-bench-"));
      const embedded = await startEmbeddedPostgres({ dataDir: dir });
      cleanups.push(async () => {
        await embedded.stop();
        await rm(dir, { recursive: true, force: true });
      });
      databaseUrl = embedded.url;
      await migrateDatabase(databaseUrl);
    }

    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), alg: "ES256", kid: "bench" };
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "bench" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(USER)
      .setExpirationTime("1h")
      .sign(privateKey);

    // Seed the demo spells and the user once, outside the measurement.
    const database = createDatabase({ url: databaseUrl, poolSize: 2 });
    const seedEngine = composeEngine({
      env,
      ports: database,
      issuers: [],
      billing: createNoBilling(),
      wasm: false,
    });
    await seedDemoSpells(seedEngine, database, BUILTIN_DEMOS);
    await database.users.ensureUser(USER);
    await seedEngine.close();
    await database.close();

    // All three servers stay up; the rounds interleave them so that drift on a shared machine (other
    // load, CPU steal) hits each the same way. Each figure is the median over the rounds.
    const roles = ["floor", "app", "app-nocache"] as const;
    const servers = new Map<string, { url: string; stop: () => void }>();
    for (const role of roles) {
      const server = await startChild({ role, databaseUrl, jwk });
      cleanups.push(server.stop);
      servers.set(role, server);
      await load(server.url, token, 2, connections); // warm-up: JIT, pools, prepared statements
    }
    const samples = new Map<string, Measured[]>(roles.map((role) => [role, []]));
    for (let round = 0; round < rounds; round++) {
      for (const role of roles) {
        const server = servers.get(role);
        if (server) samples.get(role)?.push(await load(server.url, token, duration, connections));
      }
    }
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const summary = (role: string): Measured => {
      const runs = samples.get(role) ?? [];
      return {
        rps: median(runs.map((m) => m.rps)),
        p50: median(runs.map((m) => m.p50)),
        p99: median(runs.map((m) => m.p99)),
        errors: runs.reduce((sum, m) => sum + m.errors, 0),
      };
    };

    const floor = summary("floor");
    const row = (name: string, m: Measured) =>
      `${name.padEnd(12)} ${m.rps.toFixed(0).padStart(8)} req/s   p50 ${String(m.p50).padStart(4)} ms   p99 ${String(m.p99).padStart(4)} ms   errors ${m.errors}`;
    console.log(
      `\nPOST /api/spell/execute echo@v1, ${connections} connections, ${rounds} interleaved rounds of ${duration}s (medians)`,
    );
    console.log(row("floor", floor));
    let pass = true;
    for (const [role, label] of [
      ["app", "app"],
      ["app-nocache", "app, no token cache"],
    ] as const) {
      const app = summary(role);
      const throughput = app.rps / floor.rps;
      const tail = app.p99 / Math.max(floor.p99, 1);
      console.log(row(role, app));
      console.log(
        `  ${label}: throughput ratio ${throughput.toFixed(2)}x (target ≥ 0.60x)   p99 ratio ${tail.toFixed(2)}x (target ≤ 2.00x)`,
      );
      if (role === "app") pass = throughput >= 0.6 && tail <= 2 && app.errors === 0;
    }
    console.log(pass ? "PASS" : "FAIL");
  } finally {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  }
}

if (process.env.BENCH_SERVE) {
  await child();
} else {
  await main();
}
