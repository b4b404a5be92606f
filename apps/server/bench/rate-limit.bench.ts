/**
 * What execute rate limits cost: free `echo@v1` over REST on two servers started the same way
 * (`startServer`, `NODE_ENV=production`, no billing, no wasm pool) on one database, one without
 * limits and one with `SPELL_RATE_LIMIT_USER` / `_SPELL` = 100000000/60 (never refuses: the cost of
 * counting, not of refusing). wrk runs in its own process; rounds interleave the two (the order
 * alternates) so drift on a shared machine hits both alike; the figure is the median over rounds.
 * Target (issue 14): on/off ≥ 0.9.
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/spell_dev \
 *     pnpm --filter @spell/server exec tsx --conditions=@spell/source bench/rate-limit.bench.ts
 *   RL_BENCH_DURATION=5 RL_BENCH_ROUNDS=5 RL_BENCH_CONNECTIONS=16 RL_BENCH_USERS=1000 …
 *   RL_BENCH_CPU_PROF=/tmp/prof …      a .cpuprofile per server under /tmp/prof/{off,on}
 */
import { fork } from "node:child_process";
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrustedIssuerConfig } from "@spell/auth";
import { createTestDatabase } from "@spell/db/testing";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { parseEnv } from "../src/env.ts";
import { startServer } from "../src/server.ts";
import { cpuSeconds, median, runWrk } from "./load.ts";

const ISSUER = "https://bench.test";
const AUDIENCE = "spell";
const DURATION = Number(process.env.RL_BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.RL_BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.RL_BENCH_CONNECTIONS ?? 16);
const USERS = Number(process.env.RL_BENCH_USERS ?? 1000);
const BODY = JSON.stringify({ spell: "echo@v1", input: { hello: "world" } });

type Role = "off" | "on";
interface ServeConfig {
  role: Role;
  databaseUrl: string;
  jwk: JWK;
}

// ---- child: one server ----------------------------------------------------------------------------

async function serve(config: ServeConfig): Promise<number> {
  const issuers: TrustedIssuerConfig[] = [{ issuer: ISSUER, jwks: { keys: [config.jwk as never] } }];
  const env = parseEnv({
    NODE_ENV: "production",
    SPELL_LOG_FORMAT: "json",
    SPELL_LOG_LEVEL: "info",
    DATABASE_URL: config.databaseUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    SPELL_SIGNING_KEY: "k".repeat(32),
    SPELL_TRUSTED_ISSUERS: JSON.stringify(issuers),
    SPELL_SEED_DEMOS: "1",
    SPELL_BILLING: "none",
    ...(config.role === "on"
      ? { SPELL_RATE_LIMIT_USER: "100000000/60", SPELL_RATE_LIMIT_SPELL: "100000000/60" }
      : {}),
    SPELL_DATA_DIR: process.env.RL_BENCH_DATA_DIR,
  });
  const server = await startServer(env, { wasm: false });
  return server.port;
}

async function child(): Promise<void> {
  // As the shipped server runs (`node dist/main.js`): no source-mapped stacks.
  process.setSourceMapsEnabled(false);
  const port = await serve(JSON.parse(process.env.RL_BENCH_SERVE ?? "") as ServeConfig);
  process.send?.({ port });
  process.on("disconnect", () => process.exit(0));
}

// ---- parent ---------------------------------------------------------------------------------------

interface Child {
  role: Role;
  url: string;
  pid: number;
  stop: () => void;
}

function startChild(config: ServeConfig, dataDir: string): Promise<Child> {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    env: {
      ...process.env,
      RL_BENCH_SERVE: JSON.stringify(config),
      RL_BENCH_DATA_DIR: dataDir,
      NODE_ENV: "production",
    },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    execArgv: [
      ...process.execArgv,
      ...(process.env.RL_BENCH_CPU_PROF
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.RL_BENCH_CPU_PROF}/${config.role}`]
        : []),
    ],
  });
  return new Promise((resolve, reject) => {
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`${config.role} server exited with ${code}`)));
    proc.once("message", (message: { port: number }) =>
      resolve({
        role: config.role,
        url: `http://127.0.0.1:${message.port}`,
        pid: proc.pid ?? 0,
        stop: () => {
          if (proc.connected) proc.disconnect();
        },
      }),
    );
  });
}

class Minter {
  private readonly header = Buffer.from(JSON.stringify({ alg: "ES256", kid: "bench", typ: "JWT" })).toString(
    "base64url",
  );
  constructor(private readonly key: KeyObject) {}
  token(sub: string): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 3600 };
    const signingInput = `${this.header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.key, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${signature.toString("base64url")}`;
  }
}

interface Run {
  rps: number;
  p99Ms: number;
  errors: number;
  cpuUsPerRequest: number;
}

async function wrk(server: Child, tokenFile: string, duration: number): Promise<Run> {
  const env = {
    ...process.env,
    BENCH_TOKENS: tokenFile,
    BENCH_METHOD: "POST",
    BENCH_PATH: "/api/spell/execute",
    BENCH_BODY: BODY,
  };
  const cpuBefore = await cpuSeconds(server.pid);
  const output = await runWrk({ url: server.url, connections: CONNECTIONS, durationSeconds: duration, env });
  const cpuAfter = await cpuSeconds(server.pid);
  const line = output.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk printed no summary:\n${output}`);
  const r = JSON.parse(line.slice("BENCH_JSON ".length)) as Record<string, number>;
  const requests = r.requests ?? 0;
  return {
    rps: requests / ((r.durationUs ?? 1) / 1e6),
    p99Ms: (r.p99Us ?? 0) / 1000,
    errors: (r.connect ?? 0) + (r.read ?? 0) + (r.write ?? 0) + (r.status ?? 0) + (r.timeout ?? 0),
    cpuUsPerRequest: requests > 0 ? ((cpuAfter - cpuBefore) * 1e6) / requests : 0,
  };
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error("DATABASE_URL is required (a Postgres server the bench may create a database on)");
  const testDb = await createTestDatabase({ url });
  const work = await mkdtemp(join(tmpdir(), "spell-rl-bench-"));
  const cleanups: Array<() => unknown> = [
    () => testDb.drop(),
    () => rm(work, { recursive: true, force: true }),
  ];
  try {
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), alg: "ES256", kid: "bench" };
    const minter = new Minter(createPrivateKey({ key: await exportJWK(privateKey), format: "jwk" }));
    const tokens = Array.from({ length: USERS }, (_, i) => minter.token(`bench-user-${i}`));
    const tokenFile = join(work, "users.tokens");
    await writeFile(tokenFile, tokens.join("\n"));

    // One at a time: each start migrates and seeds the demos on the shared database.
    const servers: Record<Role, Child> = {} as Record<Role, Child>;
    for (const role of ["off", "on"] as const) {
      servers[role] = await startChild({ role, databaseUrl: testDb.url, jwk }, work);
      cleanups.unshift(servers[role].stop);
    }
    // Warm-up: creates the users (first execute), JIT, pools, prepared statements, token caches.
    for (const role of ["off", "on"] as const) await wrk(servers[role], tokenFile, 3);

    const runs: Record<Role, Run[]> = { off: [], on: [] };
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order: Role[] = round % 2 === 0 ? ["off", "on"] : ["on", "off"];
      const got = {} as Record<Role, Run>;
      for (const role of order) {
        got[role] = await wrk(servers[role], tokenFile, DURATION);
        runs[role].push(got[role]);
      }
      ratios.push(got.on.rps / got.off.rps);
      process.stderr.write(
        `round ${round + 1}/${ROUNDS}: off ${got.off.rps.toFixed(0)} req/s (${got.off.cpuUsPerRequest.toFixed(0)} µs CPU/req), ` +
          `on ${got.on.rps.toFixed(0)} req/s (${got.on.cpuUsPerRequest.toFixed(0)} µs CPU/req), ratio ${(got.on.rps / got.off.rps).toFixed(3)}\n`,
      );
    }
    const summary = (role: Role) => ({
      rps: Math.round(median(runs[role].map((r) => r.rps))),
      p99Ms: Number(median(runs[role].map((r) => r.p99Ms)).toFixed(2)),
      cpuUsPerRequest: Math.round(median(runs[role].map((r) => r.cpuUsPerRequest))),
      errors: runs[role].reduce((sum, r) => sum + r.errors, 0),
    });
    const off = summary("off");
    const on = summary("on");
    process.stdout.write(
      `${JSON.stringify(
        {
          connections: CONNECTIONS,
          durationSeconds: DURATION,
          rounds: ROUNDS,
          users: USERS,
          off,
          on,
          ratioOfMedians: Number((on.rps / off.rps).toFixed(3)),
          medianRoundRatio: Number(median(ratios).toFixed(3)),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}

if (process.env.RL_BENCH_SERVE) {
  child().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
