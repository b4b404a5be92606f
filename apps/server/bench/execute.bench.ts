/**
 * The server against two floors, measured in the same run, with wrk in its own process:
 *
 * - floor `express`: a bare Express 5 route that verifies the same ES256 JWT with jose and does one
 *   indexed Postgres read (`SELECT id, status FROM users WHERE id = $1`) — what Spell is built on;
 * - floor `node:http`: the same work on a bare `node:http` server.
 *
 * Paths: REST execute `echo@v1` (token cache on / off), `/trpc` execute (the SDK's path), wasm
 * `echo-c@v1` over REST, priced `echo-paid@v1` on the local billing mode (the real Stripe adapter
 * against `@spell/stripe-sim` on loopback: a zero-latency Stripe), `GET /api/me`, and a first-sight
 * user. 1,000 users rotate their tokens (variants: one token, all-unique tokens), at 1, 16 and 64
 * connections; rounds interleave every scenario so drift on a shared machine hits each alike; each
 * figure is the median over the rounds, with min–max. Ratios, never bare targets; no assertions.
 * The app runs as shipped (`startServer`: JSON access lines to stdout, metrics on) in a child.
 *
 *   pnpm --filter @spell/server bench                        writes BENCHMARKS.md at the repo root
 *   BENCH_DURATION=2 BENCH_ROUNDS=3 pnpm --filter @spell/server bench      quick
 *   BENCH_CONNECTIONS=16 …                                   only some connection counts
 *   BENCH_MODE=memory BENCH_MEMORY_TOTAL=1000000 …           RSS after 100k and 1M mixed executions
 */
import { execFileSync, fork, spawn } from "node:child_process";
import { createPrivateKey, type KeyObject, randomUUID, sign } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrustedIssuerConfig } from "@spell/auth";
import { createTestDatabase } from "@spell/db/testing";
import express from "express";
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify } from "jose";
import pg from "pg";
import { parseEnv } from "../src/env.ts";
import { startServer } from "../src/server.ts";

const ISSUER = "https://bench.test";
const AUDIENCE = "spell";
const USERS = 1000;
const POOL_SIZE = 10;
const HERE = fileURLToPath(new URL(".", import.meta.url));
const REPO_ROOT = join(HERE, "..", "..", "..");
const LUA = join(HERE, "wrk.lua");

type Role = "floor-express" | "floor-http" | "app" | "app-nocache";

interface ServeConfig {
  role: Role;
  databaseUrl: string;
  jwk: JWK;
}

// ---- children: one server each -------------------------------------------------------------------

function floorVerifier(config: ServeConfig) {
  const jwks = createLocalJWKSet({ keys: [config.jwk] });
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: POOL_SIZE });
  return async (authorization: string | undefined) => {
    const token = (authorization ?? "").replace(/^Bearer /, "");
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
    return (rows[0]?.id as string | undefined) ?? null;
  };
}

async function serve(config: ServeConfig): Promise<number> {
  if (config.role === "floor-express") {
    const verify = floorVerifier(config);
    const app = express();
    app.post("/api/spell/execute", express.json({ limit: "1mb" }), async (req, res) => {
      try {
        const user = await verify(req.headers.authorization);
        res.json({ ok: true, user, output: req.body.input });
      } catch {
        res.status(401).json({ ok: false });
      }
    });
    return listenOn(createServer(app));
  }
  if (config.role === "floor-http") {
    const verify = floorVerifier(config);
    return listenOn(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", async () => {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { input?: unknown };
            const user = await verify(req.headers.authorization);
            res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
            res.end(JSON.stringify({ ok: true, user, output: body.input }));
          } catch {
            res.writeHead(401, { "content-type": "application/json; charset=utf-8" });
            res.end('{"ok":false}');
          }
        });
      }),
    );
  }
  const issuers: TrustedIssuerConfig[] = [{ issuer: ISSUER, jwks: { keys: [config.jwk as never] } }];
  const env = parseEnv({
    // Not "production": the local test payment provider (the priced path) refuses to run there.
    // The process itself runs with NODE_ENV=production (Express reads it).
    NODE_ENV: "development",
    SPELL_LOG_FORMAT: "json",
    SPELL_LOG_LEVEL: "info",
    DATABASE_URL: config.databaseUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    SPELL_SIGNING_KEY: "k".repeat(32),
    SPELL_TRUSTED_ISSUERS: JSON.stringify(issuers),
    SPELL_SEED_DEMOS: "1",
    SPELL_BILLING: config.role === "app" ? "local" : "none",
    ...(config.role === "app-nocache" ? { SPELL_TOKEN_CACHE_SIZE: "0" } : {}),
    SPELL_DATA_DIR: process.env.BENCH_DATA_DIR,
  });
  const server = await startServer(env, { wasm: config.role === "app" });
  return server.port;
}

function listenOn(server: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
}

async function child(): Promise<void> {
  const config = JSON.parse(process.env.BENCH_SERVE ?? "") as ServeConfig;
  const port = await serve(config);
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
      BENCH_SERVE: JSON.stringify(config),
      BENCH_DATA_DIR: dataDir,
      NODE_ENV: "production",
    },
    // The app's access lines go where production sends them: stdout, here /dev/null.
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    execArgv: [
      ...process.execArgv,
      ...(process.env.BENCH_CPU_PROF ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
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
        stop: () => proc.disconnect(),
      }),
    );
  });
}

/** Tokens signed with node:crypto directly (fast enough to mint tens of thousands between runs). */
class Minter {
  private readonly header = Buffer.from(JSON.stringify({ alg: "ES256", kid: "bench", typ: "JWT" })).toString(
    "base64url",
  );
  constructor(private readonly key: KeyObject) {}
  token(sub: string, jti?: string): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 3600, ...(jti ? { jti } : {}) };
    const signingInput = `${this.header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key: this.key, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${signature.toString("base64url")}`;
  }
}

interface Run {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  wrapped: number;
  cpuUsPerRequest: number;
  requests: number;
}

const CLOCK_TICK = Number(safeExec("getconf", ["CLK_TCK"]) || 100);

function safeExec(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch (error) {
    return ((error as { stdout?: string; stderr?: string }).stderr ?? "").trim();
  }
}

/** wrk -v prints its version and exits 1. */
function versionOf(file: string, args: string[]): string {
  try {
    return (
      execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).split("\n")[0] ?? file
    );
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return `${stdout}${stderr}`.split("\n")[0]?.replace(/ Copyright.*/, "") || file;
  }
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICK; // utime + stime
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

interface Request {
  method: "GET" | "POST";
  path: string;
  body?: string;
}

async function wrk(options: {
  server: Child;
  request: Request | Request[];
  tokenFile: string;
  connections: number;
  duration: number;
}): Promise<Run> {
  const { server, connections, duration } = options;
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_TOKENS: options.tokenFile };
  if (Array.isArray(options.request)) {
    const file = `${options.tokenFile}.mix`;
    await writeFile(file, options.request.map((r) => `${r.method}\t${r.path}\t${r.body ?? ""}`).join("\n"));
    env.BENCH_MIX_FILE = file;
  } else {
    env.BENCH_METHOD = options.request.method;
    env.BENCH_PATH = options.request.path;
    env.BENCH_BODY = options.request.body ?? "";
  }
  const cpuBefore = await cpuSeconds(server.pid);
  const output = await new Promise<string>((resolve, reject) => {
    const proc = spawn(
      "wrk",
      ["-t1", `-c${connections}`, `-d${duration}s`, "--timeout", "10s", "-s", LUA, server.url],
      { env, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.once("error", reject);
    proc.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`)),
    );
  });
  const cpuAfter = await cpuSeconds(server.pid);
  const line = output.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (line === undefined) throw new Error(`wrk printed no summary:\n${output}`);
  const r = JSON.parse(line.slice("BENCH_JSON ".length)) as Record<string, number>;
  const requests = r.requests ?? 0;
  const seconds = (r.durationUs ?? 1) / 1e6;
  return {
    rps: requests / seconds,
    p50Ms: (r.p50Us ?? 0) / 1000,
    p99Ms: (r.p99Us ?? 0) / 1000,
    errors: (r.connect ?? 0) + (r.read ?? 0) + (r.write ?? 0) + (r.status ?? 0) + (r.timeout ?? 0),
    wrapped: r.wrapped ?? 0,
    cpuUsPerRequest: requests > 0 ? ((cpuAfter - cpuBefore) * 1e6) / requests : 0,
    requests,
  };
}

type Tokens = "1000 users" | "1 token" | "unique tokens" | "first-sight users";

interface Scenario {
  id: string;
  label: string;
  server: Role;
  request: Request;
  tokens: Tokens;
  connections: number;
}

const ECHO = JSON.stringify({ spell: "echo@v1", input: { hello: "world" } });
const REQUESTS = {
  floor: { method: "POST", path: "/api/spell/execute", body: ECHO },
  rest: { method: "POST", path: "/api/spell/execute", body: ECHO },
  trpc: { method: "POST", path: "/trpc/spell.execute", body: ECHO },
  wasm: {
    method: "POST",
    path: "/api/spell/execute",
    body: JSON.stringify({ spell: "echo-c@v1", input: { hello: "world" } }),
  },
  priced: {
    method: "POST",
    path: "/api/spell/execute",
    body: JSON.stringify({ spell: "echo-paid@v1", input: { hello: "world" } }),
  },
  me: { method: "GET", path: "/api/me" },
} satisfies Record<string, Request>;

function scenarios(connectionCounts: number[]): Scenario[] {
  const list: Scenario[] = [];
  const paths: Array<[string, string, Role, Request]> = [
    ["floor-express", "floor: Express 5 + jose ES256 + one indexed pg read", "floor-express", REQUESTS.floor],
    ["floor-http", "floor: node:http, same work", "floor-http", REQUESTS.floor],
    ["rest", "REST execute echo@v1 (token cache on)", "app", REQUESTS.rest],
    ["rest-nocache", "REST execute echo@v1, token cache off", "app-nocache", REQUESTS.rest],
    ["trpc", "/trpc execute echo@v1 (SDK path)", "app", REQUESTS.trpc],
    ["wasm", "wasm echo-c@v1 over REST", "app", REQUESTS.wasm],
    ["priced", "priced echo-paid@v1 (local billing, stripe-sim)", "app", REQUESTS.priced],
    ["me", "GET /api/me", "app", REQUESTS.me],
  ];
  for (const connections of connectionCounts) {
    for (const [id, label, server, request] of paths) {
      list.push({ id, label, server, request, tokens: "1000 users", connections });
    }
  }
  const variantAt = connectionCounts.includes(16) ? 16 : (connectionCounts[0] ?? 16);
  for (const [id, label, server] of [
    ["floor-express", "floor: Express", "floor-express"],
    ["floor-http", "floor: node:http", "floor-http"],
    ["rest", "REST execute (token cache on)", "app"],
    ["rest-nocache", "REST execute, token cache off", "app-nocache"],
  ] as const) {
    list.push({ id, label, server, request: REQUESTS.rest, tokens: "1 token", connections: variantAt });
    if (id !== "rest-nocache")
      list.push({
        id,
        label,
        server,
        request: REQUESTS.rest,
        tokens: "unique tokens",
        connections: variantAt,
      });
  }
  list.push({
    id: "rest",
    label: "REST execute, first-sight users",
    server: "app",
    request: REQUESTS.rest,
    tokens: "first-sight users",
    connections: variantAt,
  });
  return list;
}

const key = (s: Pick<Scenario, "id" | "tokens" | "connections">) => `${s.id}|${s.tokens}|${s.connections}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

interface Summary {
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  p99Min: number;
  p99Max: number;
  cpu: number;
  errors: number;
  wrapped: number;
}

function summarize(runs: Run[]): Summary {
  const rps = runs.map((r) => r.rps);
  const p99 = runs.map((r) => r.p99Ms);
  return {
    rps: median(rps),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    p50: median(runs.map((r) => r.p50Ms)),
    p99: median(p99),
    p99Min: Math.min(...p99),
    p99Max: Math.max(...p99),
    cpu: median(runs.map((r) => r.cpuUsPerRequest)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    wrapped: runs.reduce((sum, r) => sum + r.wrapped, 0),
  };
}

async function setUp() {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error("DATABASE_URL is required (a Postgres server the bench may create a database on)");
  const testDb = await createTestDatabase({ url });
  const work = await mkdtemp(join(tmpdir(), "spell-bench-"));
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), alg: "ES256", kid: "bench" };
  const minter = new Minter(createPrivateKey({ key: await exportJWK(privateKey), format: "jwk" }));
  const cleanups: Array<() => unknown> = [
    () => testDb.drop(),
    () => rm(work, { recursive: true, force: true }),
  ];
  return { databaseUrl: testDb.url, work, jwk, minter, cleanups };
}

async function startAll(roles: Role[], setup: Awaited<ReturnType<typeof setUp>>): Promise<Map<Role, Child>> {
  const servers = new Map<Role, Child>();
  // One at a time: each app run migrates and seeds the demos on the shared database.
  for (const role of roles) {
    const server = await startChild({ role, databaseUrl: setup.databaseUrl, jwk: setup.jwk }, setup.work);
    setup.cleanups.unshift(server.stop);
    servers.set(role, server);
  }
  return servers;
}

/** Creates the 1,000 users (first execute) and gives each a test card on the local provider. */
async function prepareUsers(app: Child, tokens: string[]): Promise<void> {
  const post = async (path: string, token: string, body: unknown) => {
    const response = await fetch(app.url + path, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  };
  for (let i = 0; i < tokens.length; i += 20) {
    await Promise.all(
      tokens.slice(i, i + 20).map(async (token) => {
        await post("/api/spell/execute", token, { spell: "echo@v1", input: {} });
        await post("/api/billing/local/attach", token, { paymentMethod: "pm_card_visa" });
      }),
    );
  }
}

function machine(): string {
  const cpu = cpus();
  return [
    `${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} free at start)`,
    `Linux ${release()}`,
    `load average ${loadavg()
      .map((n) => n.toFixed(1))
      .join(" / ")} (1/5/15 min, when the report was written)`,
    `Node ${process.version}`,
    versionOf("wrk", ["-v"]),
    `PostgreSQL ${safeExec("psql", ["--version"]).replace(/^psql \(PostgreSQL\) /, "")} (loopback)`,
  ].join("; ");
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const duration = Number(process.env.BENCH_DURATION ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const connectionCounts = (process.env.BENCH_CONNECTIONS ?? "1,16,64").split(",").map(Number);
  const setup = await setUp();
  try {
    const userTokens = Array.from({ length: USERS }, (_, i) => setup.minter.token(`bench-user-${i}`));
    const rotateFile = join(setup.work, "users.tokens");
    const oneFile = join(setup.work, "one.tokens");
    await writeFile(rotateFile, userTokens.join("\n"));
    await writeFile(oneFile, userTokens[0] ?? "");

    const servers = await startAll(["floor-express", "floor-http", "app", "app-nocache"], setup);
    const app = servers.get("app") as Child;
    await prepareUsers(app, userTokens);

    const list = scenarios(connectionCounts);
    // Warm-up: JIT, pools, prepared statements, compiled wasm, verified-token caches.
    for (const scenario of list.filter(
      (s) => s.tokens === "1000 users" && s.connections === connectionCounts.at(-1),
    )) {
      const server = servers.get(scenario.server) as Child;
      await wrk({ server, request: scenario.request, tokenFile: rotateFile, connections: 16, duration: 2 });
    }

    const samples = new Map<string, Run[]>(list.map((s) => [key(s), []]));
    let fresh = 0;
    for (let round = 0; round < rounds; round++) {
      // Rotate the starting point so no scenario always runs right after the same neighbour.
      const order = list.map((_, i) => list[(i + round * 7) % list.length] as Scenario);
      for (const scenario of order) {
        const server = servers.get(scenario.server) as Child;
        let tokenFile = rotateFile;
        if (scenario.tokens === "1 token") tokenFile = oneFile;
        if (scenario.tokens === "unique tokens" || scenario.tokens === "first-sight users") {
          // Enough never-seen tokens for this run: 1.5x the rate measured for the same server's
          // rotating scenario (or a generous guess in the first round), minted between runs.
          const seen = samples.get(key({ ...scenario, tokens: "1000 users" }))?.map((r) => r.rps) ?? [];
          const count = Math.ceil((Math.max(...seen, 6000) * 1.5 + 1000) * duration);
          const tokens: string[] = [];
          for (let i = 0; i < count; i++) {
            fresh++;
            tokens.push(
              scenario.tokens === "unique tokens"
                ? setup.minter.token(`bench-user-${i % USERS}`, randomUUID())
                : setup.minter.token(`bench-new-${fresh}`),
            );
          }
          tokenFile = join(setup.work, "fresh.tokens");
          await writeFile(tokenFile, tokens.join("\n"));
        }
        const run = await wrk({
          server,
          request: scenario.request,
          tokenFile,
          connections: scenario.connections,
          duration,
        });
        samples.get(key(scenario))?.push(run);
        process.stderr.write(
          `round ${round + 1}/${rounds}  ${scenario.id.padEnd(13)} ${scenario.tokens.padEnd(17)} c=${String(scenario.connections).padEnd(3)} ${fmt(run.rps).padStart(7)} req/s  p99 ${fmt(run.p99Ms, 1)} ms  cpu ${fmt(run.cpuUsPerRequest)} µs/req  errors ${run.errors}\n`,
        );
      }
    }

    const results = new Map([...samples].map(([k, runs]) => [k, summarize(runs)]));
    const command = `BENCH_DURATION=${duration} BENCH_ROUNDS=${rounds} BENCH_CONNECTIONS=${connectionCounts.join(",")} pnpm --filter @spell/server bench`;
    await writeReport({ results, list, command, duration, rounds, connectionCounts });
  } finally {
    for (const cleanup of setup.cleanups) await Promise.resolve(cleanup()).catch(() => {});
  }
}

async function writeReport(options: {
  results: Map<string, Summary>;
  list: Scenario[];
  command: string;
  duration: number;
  rounds: number;
  connectionCounts: number[];
}): Promise<void> {
  const { results, list, command, duration, rounds } = options;
  const get = (id: string, tokens: Tokens, connections: number) =>
    results.get(key({ id, tokens, connections }));
  const lines: string[] = [];
  lines.push("# BENCHMARKS", "");
  lines.push(
    "Written by `apps/server/bench/execute.bench.ts` (see its header). Every figure is a median over",
    "interleaved rounds with its min–max; ratios are against the floors measured in the same run. The",
    "machine is shared (other engineers' test suites run on it), so absolute figures move between runs;",
    "compare ratios. The load generator (wrk, one thread) runs in its own process on the same machine.",
    "",
  );
  lines.push(`- Command: \`${command}\` (run from the repo root; \`pnpm bench\` runs it through turbo)`);
  lines.push(`- Date: ${new Date().toISOString()}`);
  lines.push(`- Machine: ${machine()}`);
  lines.push(
    `- Load: wrk \`-t1 -c<connections> -d${duration}s\`, ${rounds} rounds, every scenario once per round, ` +
      "token per request from `bench/wrk.lua` (1,000 users rotating, or one token, or a never-seen token " +
      "per request for a known user, or a never-seen user per request)",
  );
  lines.push(
    "- The app runs as shipped (`startServer`; env parsed as development because the local billing mode refuses production, process `NODE_ENV=production`; JSON access lines to stdout → " +
      "/dev/null, metrics on, wasm pool on, local billing); `app-nocache` sets `SPELL_TOKEN_CACHE_SIZE=0`. " +
      "Server CPU is the server process's utime+stime over the run divided by its requests (the local " +
      "billing mode's stripe-sim runs in the same process and is counted there).",
    "",
  );

  const connectionCounts = [...new Set(list.map((s) => s.connections))];
  for (const connections of connectionCounts) {
    const floorExpress = get("floor-express", "1000 users", connections);
    const floorHttp = get("floor-http", "1000 users", connections);
    if (!floorExpress || !floorHttp) continue;
    lines.push(
      `## ${connections} connection${connections === 1 ? "" : "s"}, 1,000 users rotating their tokens`,
      "",
    );
    lines.push(
      "| path | req/s (min–max) | vs Express floor | vs node:http floor | p50 ms | p99 ms (min–max) | p99 vs Express floor | server CPU µs/req | errors |",
      "|---|---|---|---|---|---|---|---|---|",
    );
    for (const s of list.filter((x) => x.connections === connections && x.tokens === "1000 users")) {
      const r = results.get(key(s));
      if (!r) continue;
      lines.push(row(s.label, r, floorExpress, floorHttp));
    }
    lines.push("");
  }
  const variantAt = list.find((s) => s.tokens === "1 token")?.connections;
  if (variantAt !== undefined) {
    const floorExpress = get("floor-express", "1000 users", variantAt);
    const floorHttp = get("floor-http", "1000 users", variantAt);
    if (floorExpress && floorHttp) {
      lines.push(`## Token variants, ${variantAt} connections (ratios to the floors with 1,000 users)`, "");
      lines.push(
        "| path | tokens | req/s (min–max) | vs Express floor | vs node:http floor | p50 ms | p99 ms (min–max) | p99 vs Express floor | server CPU µs/req | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
      );
      for (const s of list.filter((x) => x.tokens !== "1000 users")) {
        const r = results.get(key(s));
        if (!r) continue;
        const wrappedNote =
          r.wrapped > 0 && s.tokens !== "1 token" ? " (token list wrapped: not all unique)" : "";
        lines.push(row(s.label, r, floorExpress, floorHttp, `${s.tokens}${wrappedNote}`));
      }
      lines.push("");
    }
  }

  // The issue's targets, as ratios of this run.
  const at = (id: string, c: number) => get(id, "1000 users", c);
  const c16 = connectionCounts.includes(16) ? 16 : (connectionCounts[0] ?? 16);
  const c64 = connectionCounts.includes(64) ? 64 : (connectionCounts.at(-1) ?? 64);
  const ratio = (a: Summary | undefined, b: Summary | undefined, field: "rps" | "p99" = "rps") =>
    a && b && b[field] > 0 ? a[field] / b[field] : Number.NaN;
  const targets: Array<[string, number, string, (v: number) => boolean]> = [
    [
      `REST execute / Express floor (${c16} c)`,
      ratio(at("rest", c16), at("floor-express", c16)),
      "≥ 1.00",
      (v) => v >= 1,
    ],
    [
      `REST execute / node:http floor (${c16} c)`,
      ratio(at("rest", c16), at("floor-http", c16)),
      "≥ 0.60",
      (v) => v >= 0.6,
    ],
    [
      `/trpc execute / REST execute (${c16} c)`,
      ratio(at("trpc", c16), at("rest", c16)),
      "≥ 0.95",
      (v) => v >= 0.95,
    ],
    [
      `REST, token cache off / Express floor (${c16} c)`,
      ratio(at("rest-nocache", c16), at("floor-express", c16)),
      "≥ 0.80",
      (v) => v >= 0.8,
    ],
    [
      `REST p99 / Express floor p99 (${c64} c)`,
      ratio(at("rest", c64), at("floor-express", c64), "p99"),
      "≤ 1.50",
      (v) => v <= 1.5,
    ],
    [
      `REST cache off p99 / Express floor p99 (${c64} c)`,
      ratio(at("rest-nocache", c64), at("floor-express", c64), "p99"),
      "≤ 1.50",
      (v) => v <= 1.5,
    ],
    [
      `wasm echo-c / builtin echo over REST (${c16} c)`,
      ratio(at("wasm", c16), at("rest", c16)),
      "≥ 0.70",
      (v) => v >= 0.7,
    ],
    [
      `priced / free execute (${c16} c)`,
      ratio(at("priced", c16), at("rest", c16)),
      "≥ 0.60",
      (v) => v >= 0.6,
    ],
  ];
  lines.push(`## Targets (issue 11), ratios of this run`, "");
  lines.push("| ratio | measured | target | met |", "|---|---|---|---|");
  for (const [name, value, target, ok] of targets) {
    lines.push(
      `| ${name} | ${Number.isNaN(value) ? "—" : `${fmt(value, 2)}x`} | ${target} | ${Number.isNaN(value) ? "—" : ok(value) ? "yes" : "no"} |`,
    );
  }
  lines.push("");

  const file = join(REPO_ROOT, "BENCHMARKS.md");
  const previous = await readFile(file, "utf8").catch(() => "");
  const memory = previous.indexOf(MEMORY_MARK);
  const tail = memory === -1 ? "" : previous.slice(memory);
  await writeFile(file, `${lines.join("\n")}\n${tail}`);
  process.stdout.write(`${lines.join("\n")}\n\nwritten to ${file}\n`);
}

function row(label: string, r: Summary, floorExpress: Summary, floorHttp: Summary, tokens?: string): string {
  const cells = [
    label,
    ...(tokens === undefined ? [] : [tokens]),
    `${fmt(r.rps)} (${fmt(r.rpsMin)}–${fmt(r.rpsMax)})`,
    `${fmt(r.rps / floorExpress.rps, 2)}`,
    `${fmt(r.rps / floorHttp.rps, 2)}`,
    fmt(r.p50, 2),
    `${fmt(r.p99, 2)} (${fmt(r.p99Min, 2)}–${fmt(r.p99Max, 2)})`,
    `${fmt(r.p99 / Math.max(floorExpress.p99, 0.001), 2)}`,
    fmt(r.cpu),
    String(r.errors),
  ];
  return `| ${cells.join(" | ")} |`;
}

const MEMORY_MARK = "## Memory (long run)";

/** RSS of the app after the first 100,000 and after all of BENCH_MEMORY_TOTAL mixed executions. */
async function memory(): Promise<void> {
  const total = Number(process.env.BENCH_MEMORY_TOTAL ?? 1_000_000);
  const first = Math.min(100_000, total);
  const chunk = Number(process.env.BENCH_MEMORY_CHUNK ?? 10);
  const setup = await setUp();
  try {
    const userTokens = Array.from({ length: USERS }, (_, i) => setup.minter.token(`bench-user-${i}`));
    const rotateFile = join(setup.work, "users.tokens");
    await writeFile(rotateFile, userTokens.join("\n"));
    const servers = await startAll(["app"], setup);
    const app = servers.get("app") as Child;
    await prepareUsers(app, userTokens);
    const mix = [REQUESTS.rest, REQUESTS.trpc, REQUESTS.wasm, REQUESTS.priced];
    const started = Date.now();
    let done = 0;
    let errors = 0;
    let rssFirst: number | undefined;
    const samples: string[] = [];
    const rssStart = await rssMiB(app.pid);
    while (done < total) {
      const run = await wrk({
        server: app,
        request: mix,
        tokenFile: rotateFile,
        connections: 16,
        duration: chunk,
      });
      done += run.requests;
      errors += run.errors;
      const rss = await rssMiB(app.pid);
      samples.push(`${done}:${rss.toFixed(0)}`);
      if (rssFirst === undefined && done >= first) rssFirst = rss;
      process.stderr.write(
        `${fmt(done)} requests  RSS ${fmt(rss, 1)} MiB  ${fmt(run.rps)} req/s  errors ${errors}\n`,
      );
    }
    const rssLast = await rssMiB(app.pid);
    const ratio = rssFirst ? rssLast / rssFirst : Number.NaN;
    const section = [
      MEMORY_MARK,
      "",
      `- Command: \`BENCH_MODE=memory BENCH_MEMORY_TOTAL=${total} pnpm --filter @spell/server bench\``,
      `- Date: ${new Date().toISOString()}; ${machine()}`,
      `- Mix (round-robin per request, 16 connections, 1,000 users): REST echo@v1, /trpc echo@v1, wasm echo-c@v1, priced echo-paid@v1`,
      `- ${fmt(done)} requests in ${fmt((Date.now() - started) / 1000)} s, ${errors} errors`,
      `- RSS at start ${fmt(rssStart, 1)} MiB; after the first ≥${fmt(first)} ${fmt(rssFirst ?? Number.NaN, 1)} MiB; after ${fmt(done)} ${fmt(rssLast, 1)} MiB → **${fmt(ratio, 2)}x** (target ≤ 1.20x)`,
      `- Samples (requests:RSS MiB): ${samples.join(" ")}`,
      "",
    ].join("\n");
    const file = join(REPO_ROOT, "BENCHMARKS.md");
    const previous = await readFile(file, "utf8").catch(() => "");
    const at = previous.indexOf(MEMORY_MARK);
    await writeFile(file, `${at === -1 ? `${previous}\n` : previous.slice(0, at)}${section}`);
    process.stdout.write(`${section}\nwritten to ${file}\n`);
  } finally {
    for (const cleanup of setup.cleanups) await Promise.resolve(cleanup()).catch(() => {});
  }
}

/**
 * `BENCH_MODE=profile BENCH_PROFILE_PATH=rest|trpc|priced|me|wasm [BENCH_PROFILE_ROLE=app-nocache]`:
 * the app under `node --cpu-prof` for one path at 16 connections; the `.cpuprofile` lands in
 * BENCH_CPU_PROF (default: a temp dir, printed) — summarise it with `bench/cpuprofile-summary.ts`.
 */
async function profile(): Promise<void> {
  const which = (process.env.BENCH_PROFILE_PATH ?? "rest") as keyof typeof REQUESTS;
  const role = (process.env.BENCH_PROFILE_ROLE ?? "app") as Role;
  const duration = Number(process.env.BENCH_DURATION ?? 10);
  const setup = await setUp();
  const dir = process.env.BENCH_CPU_PROF ?? (await mkdtemp(join(tmpdir(), "spell-prof-")));
  process.env.BENCH_CPU_PROF = dir;
  try {
    const userTokens = Array.from({ length: USERS }, (_, i) => setup.minter.token(`bench-user-${i}`));
    const rotateFile = join(setup.work, "users.tokens");
    await writeFile(rotateFile, userTokens.join("\n"));
    const servers = await startAll(role === "app" ? ["app"] : ["app", role], setup);
    await prepareUsers(servers.get("app") as Child, userTokens);
    const server = servers.get(role) as Child;
    const run = await wrk({
      server,
      request: REQUESTS[which],
      tokenFile: rotateFile,
      connections: 16,
      duration,
    });
    process.stdout.write(
      `${which} on ${role}: ${fmt(run.rps)} req/s, ${fmt(run.cpuUsPerRequest)} µs CPU/req; profile in ${dir}\n`,
    );
  } finally {
    for (const cleanup of setup.cleanups) await Promise.resolve(cleanup()).catch(() => {});
  }
}

if (process.env.BENCH_SERVE) {
  await child();
} else if (process.env.BENCH_MODE === "memory") {
  await memory();
} else if (process.env.BENCH_MODE === "profile") {
  await profile();
} else {
  await main();
}
