/**
 * The server against two floors, measured in the same run, with wrk in its own process:
 *
 * - floor `express`: a bare Express 5 route that verifies the same ES256 JWT with jose and does one
 *   indexed Postgres read (`SELECT id, status FROM users WHERE id = $1`) — what Spell is built on;
 * - floor `node:http`: the same work on a bare `node:http` server.
 *
 * Paths: REST execute `echo@v1` (token cache on / off), `/trpc` execute (the SDK's path), wasm
 * `echo-c@v1` over REST, priced `echo-paid@v1` (the real Stripe adapter, `SPELL_BILLING=stripe`,
 * pointed by `STRIPE_API_BASE` at `@spell/stripe-sim` running in a child process of its own: a
 * zero-latency Stripe whose CPU is not the server's), `GET /api/me`, a first-sight user; issue 13's
 * free execute with the run worker off and the queued path's enqueue → start latency at a fixed
 * rate; issue 14's prepaid priced execute against free on the same prepaid deployment, and free
 * execute with rate limits on. 1,000 users rotate their tokens (variants: one token, all-unique
 * tokens), at 1, 16 and 64 connections; rounds interleave every scenario so drift on a shared
 * machine hits each alike; each figure is the median over the rounds, with min–max. Ratios, never
 * bare targets; no assertions. The app runs as shipped (`startServer`, `NODE_ENV=production`: JSON
 * access lines to stdout, metrics on) in a child process per configuration.
 *
 *   pnpm --filter @spell/server bench                        writes BENCHMARKS.md at the repo root
 *   BENCH_DURATION=2 BENCH_ROUNDS=3 pnpm --filter @spell/server bench      quick
 *   BENCH_CONNECTIONS=16 …                                   only some connection counts
 *   BENCH_MODE=memory BENCH_MEMORY_TOTAL=1000000 …           RSS after 100k and 1M mixed executions
 *   BENCH_MODE=writes [BENCH_WRITES_COUNT=100] …             Postgres statements + Stripe calls per request
 *   BENCH_MODE=profile BENCH_PROFILE_PATH=priced …           a .cpuprofile of one path (see profile())
 *   BENCH_USERS=1000                                         how many users rotate their tokens
 *   BENCH_ONLY=floor-express,rest …                          only these scenario ids (an A/B run: prints,
 *                                                            no BENCHMARKS.md, no queued-path rounds)
 */
import { execFileSync, fork } from "node:child_process";
import { createPrivateKey, type KeyObject, randomUUID, sign } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrustedIssuerConfig } from "@spell/auth";
import { createTestDatabase } from "@spell/db/testing";
import { createStripeSim, startStripeSimServer } from "@spell/stripe-sim";
import express from "express";
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify } from "jose";
import pg from "pg";
import Stripe from "stripe";
import { parseEnv } from "../src/env.ts";
import { startServer } from "../src/server.ts";
import { cpuBetween, cpuSeconds, cpuTree, median, runWrk } from "./load.ts";

const ISSUER = "https://bench.test";
/**
 * Issue 13's "run worker off" server (`runWorker: false`: no pg-boss in that process) runs unless
 * `BENCH_NOWORKER=0` (its pg-boss connections are not free on a shared PostgreSQL, max_connections 100).
 */
const WITH_NOWORKER = process.env.BENCH_NOWORKER !== "0";
const AUDIENCE = "spell";
const USERS = Number(process.env.BENCH_USERS ?? 1000);
const POOL_SIZE = 10;
const HERE = fileURLToPath(new URL(".", import.meta.url));
const REPO_ROOT = join(HERE, "..", "..", "..");

type Role =
  | "floor-express"
  | "floor-http"
  | "floor-priced"
  | "stripe-sim"
  | "app"
  | "app-nocache"
  | "app-noworker"
  | "app-prepaid"
  | "app-ratelimit";

interface ServeConfig {
  role: Role;
  databaseUrl: string;
  jwk: JWK;
  /** The stripe-sim child every app's Stripe adapter talks to, and the webhook secret they share. */
  stripe: { apiBase: string; webhookSecret: string };
}

/** Messages the parent sends the stripe-sim child (answered with `{ id, ok, error? }`). */
type SimMessage =
  | { id: number; kind: "webhook-url"; url: string }
  | { id: number; kind: "complete-checkout"; sessionId: string; paymentMethod: string }
  | { id: number; kind: "request-counts" };

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
      // The app's user id for this issuer's subject (its namespace is the issuer): a hit, as the app's read is.
      values: [`${ISSUER}|${payload.sub}`],
    });
    return (rows[0]?.id as string | undefined) ?? null;
  };
}

/**
 * The priced floor: what any per-use priced execute must do at the least, on bare `node:http` — the
 * node:http floor's work (jose ES256, one indexed read) plus the issue's minimum of 2 durable writes
 * and the 2 Stripe round trips of a manual-capture charge (create+confirm, capture) through the same
 * `stripe` SDK against the same stripe-sim child. Nothing else: no idempotency, no settlement, no
 * run. Its ratio to the node:http floor bounds what the app's priced / free ratio can reach here.
 */
async function serveFloorPriced(config: ServeConfig): Promise<number> {
  const verify = floorVerifier(config);
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: POOL_SIZE });
  await pool.query(
    "CREATE TABLE IF NOT EXISTS bench_floor_charges (id uuid PRIMARY KEY, payment_intent text NOT NULL, status text NOT NULL)",
  );
  const base = new URL(config.stripe.apiBase);
  const stripe = new Stripe("sk_test_bench", {
    host: base.hostname,
    port: Number(base.port),
    protocol: "http",
    maxNetworkRetries: 0,
    telemetry: false,
  });
  const customer = await stripe.customers.create({ payment_method: "pm_card_visa" });
  return listenOn(
    bareJsonServer(async (body, authorization) => {
      const user = await verify(authorization);
      const id = randomUUID();
      const intent = await stripe.paymentIntents.create(
        {
          amount: 50,
          currency: "usd",
          customer: customer.id,
          payment_method: "pm_card_visa",
          off_session: true,
          confirm: true,
          capture_method: "manual",
        },
        { idempotencyKey: `floor:${id}` },
      );
      await pool.query({
        name: "floor_charge_insert",
        text: "INSERT INTO bench_floor_charges (id, payment_intent, status) VALUES ($1, $2, 'authorized')",
        values: [id, intent.id],
      });
      await stripe.paymentIntents.capture(intent.id);
      await pool.query({
        name: "floor_charge_captured",
        text: "UPDATE bench_floor_charges SET status = 'captured' WHERE id = $1",
        values: [id],
      });
      return { ok: true, user, output: body.input, charged: intent.id };
    }),
  );
}

/**
 * A floor's server: the body read whole and parsed, `handle`'s answer as JSON (200), anything
 * thrown as `{"ok":false}` (401: a refused token is the only failure a floor expects).
 */
function bareJsonServer(
  handle: (body: { input?: unknown }, authorization: string | undefined) => Promise<unknown>,
): ReturnType<typeof createServer> {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { input?: unknown };
        const answer = JSON.stringify(await handle(body, req.headers.authorization));
        res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        res.end(answer);
      } catch {
        res.writeHead(401, { "content-type": "application/json; charset=utf-8" });
        res.end('{"ok":false}');
      }
    });
  });
}

/**
 * A zero-latency Stripe in a process of its own (its CPU is not the server's): the in-repo
 * stripe-sim on loopback. Events from customer actions (Checkout) go to the app's webhook route
 * over HTTP, signed, as Stripe sends them.
 */
async function serveStripeSim(config: ServeConfig): Promise<number> {
  let webhookUrl: string | undefined;
  // Requests are counted per `METHOD path` (ids folded) rather than kept: the writes mode reads them.
  const counts = new Map<string, number>();
  const sim = createStripeSim({
    recordRequests: false,
    idempotencyKeys: 100_000,
    webhook: {
      secret: config.stripe.webhookSecret,
      async deliver(payload, signature) {
        if (!webhookUrl) throw new Error("stripe-sim: no webhook URL yet");
        const response = await fetch(webhookUrl, {
          method: "POST",
          headers: { "content-type": "application/json", "stripe-signature": signature },
          body: payload,
        });
        if (!response.ok) throw new Error(`webhook answered ${response.status}: ${await response.text()}`);
      },
    },
  });
  const handle = sim.handle;
  sim.handle = (request) => {
    const name = `${request.method} ${request.path.replace(/\/(pi|cus|pm|seti|cs|re)_[A-Za-z0-9_]+/g, "/{id}")}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return handle(request);
  };
  const server = await startStripeSimServer({ sim });
  process.on("message", async (message: SimMessage) => {
    try {
      let value: unknown;
      if (message.kind === "webhook-url") webhookUrl = message.url;
      else if (message.kind === "request-counts") value = Object.fromEntries(counts);
      else await sim.customerActions.completeCheckout(message.sessionId, message.paymentMethod);
      process.send?.({ id: message.id, ok: true, value });
    } catch (error) {
      process.send?.({ id: message.id, ok: false, error: String(error) });
    }
  });
  return server.apiBase.port;
}

async function serve(config: ServeConfig): Promise<number> {
  if (config.role === "stripe-sim") return serveStripeSim(config);
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
      bareJsonServer(async (body, authorization) => ({
        ok: true,
        user: await verify(authorization),
        output: body.input,
      })),
    );
  }
  if (config.role === "floor-priced") return serveFloorPriced(config);
  // Admin-capable so the parent can publish the priced spell; bench users carry no admin scope.
  const issuers: TrustedIssuerConfig[] = [
    { issuer: ISSUER, jwks: { keys: [config.jwk as never] }, admin: true },
  ];
  const { role } = config;
  const env = parseEnv({
    // Production, as shipped: the real Stripe adapter against the stripe-sim child (STRIPE_API_BASE).
    NODE_ENV: "production",
    SPELL_LOG_FORMAT: "json",
    SPELL_LOG_LEVEL: "info",
    DATABASE_URL: config.databaseUrl,
    PORT: "0",
    HOST: "127.0.0.1",
    SPELL_SIGNING_KEY: "k".repeat(32),
    SPELL_TRUSTED_ISSUERS: JSON.stringify(issuers),
    SPELL_SEED_DEMOS: "1",
    SPELL_BILLING: "stripe",
    STRIPE_SECRET_KEY: "sk_test_bench",
    STRIPE_WEBHOOK_SECRET: config.stripe.webhookSecret,
    STRIPE_API_BASE: config.stripe.apiBase,
    SPELL_BILLING_RETURN_ORIGINS: "http://127.0.0.1",
    ...(role === "app-nocache" ? { SPELL_TOKEN_CACHE_SIZE: "0" } : {}),
    ...(role === "app-prepaid" ? { SPELL_BILLING_MODE: "prepaid" } : {}),
    // High enough never to refuse: the cost of counting, not of refusing.
    ...(role === "app-ratelimit"
      ? { SPELL_RATE_LIMIT_USER: "100000000/60", SPELL_RATE_LIMIT_SPELL: "100000000/60" }
      : {}),
    SPELL_DATA_DIR: process.env.BENCH_DATA_DIR,
  });
  const options: Parameters<typeof startServer>[1] = {
    // The rate-limited app is the app with limits on, nothing else different: its baseline is `rest`.
    wasm: role === "app" || role === "app-ratelimit",
    ...(role === "app-noworker" ? { runWorker: false } : {}),
  };
  const server = await startServer(env, options);
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
  // tsx turns source maps on for the TypeScript sources; the shipped server (`node dist/main.js`)
  // runs without them. Left on, every `error.stack` read (the stripe SDK reads one per API call)
  // source-maps each frame: a cost production never pays.
  process.setSourceMapsEnabled(false);
  const config = JSON.parse(process.env.BENCH_SERVE ?? "") as ServeConfig;
  const port = await serve(config);
  process.send?.({ port });
  process.on("disconnect", () => process.exit(0));
}

// ---- parent ---------------------------------------------------------------------------------------

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Child {
  role: Role;
  url: string;
  pid: number;
  stop: () => void;
  /** One request to the child over IPC (the stripe-sim child answers them). */
  call: (message: DistributiveOmit<SimMessage, "id">) => Promise<unknown>;
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
  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  proc.on("message", (message: { id?: number; ok?: boolean; error?: string; value?: unknown }) => {
    const waiter = message.id === undefined ? undefined : waiting.get(message.id);
    if (!waiter || message.id === undefined) return;
    waiting.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(new Error(message.error ?? "failed"));
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
        call: (body) =>
          new Promise<unknown>((done, fail) => {
            const id = nextId++;
            waiting.set(id, { resolve: done, reject: fail });
            proc.send({ ...body, id });
          }),
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
  token(sub: string, jti?: string, extra: Record<string, unknown> = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: ISSUER,
      aud: AUDIENCE,
      sub,
      iat: now,
      exp: now + 3600,
      ...(jti ? { jti } : {}),
      ...extra,
    };
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
  /** Every PostgreSQL process's CPU per request. */
  pgCpuUsPerRequest: number;
  /** The `alsoPid` process's CPU per request (0 without one). */
  alsoCpuUsPerRequest: number;
  requests: number;
}

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

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

interface Request {
  method: "GET" | "POST";
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

async function wrk(options: {
  server: Child;
  request: Request | Request[];
  tokenFile: string;
  connections: number;
  duration: number;
  /** Another process whose CPU over the run is reported per request (the stripe-sim child). */
  alsoPid?: number;
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
  const before = await cpuTree(server.pid);
  const alsoBefore = options.alsoPid ? await cpuSeconds(options.alsoPid) : 0;
  const output = await runWrk({ url: server.url, connections: connections, durationSeconds: duration, env });
  const after = await cpuTree(server.pid);
  const alsoAfter = options.alsoPid ? await cpuSeconds(options.alsoPid) : 0;
  const used = cpuBetween(before, after);
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
    cpuUsPerRequest: requests > 0 ? (used.tree * 1e6) / requests : 0,
    pgCpuUsPerRequest: requests > 0 ? (used.postgres * 1e6) / requests : 0,
    alsoCpuUsPerRequest: requests > 0 ? ((alsoAfter - alsoBefore) * 1e6) / requests : 0,
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
  prepaid: {
    method: "POST",
    path: "/api/spell/execute",
    body: JSON.stringify({ spell: "echo-prepaid@v1", input: { hello: "world" } }),
  },
  me: { method: "GET", path: "/api/me" },
} satisfies Record<string, Request>;

function scenarios(connectionCounts: number[]): Scenario[] {
  const list: Scenario[] = [];
  const paths: Array<[string, string, Role, Request]> = [
    ["floor-express", "floor: Express 5 + jose ES256 + one indexed pg read", "floor-express", REQUESTS.floor],
    ["floor-http", "floor: node:http, same work", "floor-http", REQUESTS.floor],
    [
      "floor-priced",
      "priced floor: node:http + the same work + 2 durable writes + Stripe create & capture (same SDK, same sim)",
      "floor-priced",
      REQUESTS.floor,
    ],
    ["rest", "REST execute echo@v1 (token cache on)", "app", REQUESTS.rest],
    ["rest-nocache", "REST execute echo@v1, token cache off", "app-nocache", REQUESTS.rest],
    ["trpc", "/trpc execute echo@v1 (SDK path)", "app", REQUESTS.trpc],
    ["wasm", "wasm echo-c@v1 over REST", "app", REQUESTS.wasm],
    ["priced", "priced echo-paid@v1 (Stripe adapter → stripe-sim child)", "app", REQUESTS.priced],
    ["me", "GET /api/me", "app", REQUESTS.me],
  ];
  for (const connections of connectionCounts) {
    for (const [id, label, server, request] of paths) {
      list.push({ id, label, server, request, tokens: "1000 users", connections });
    }
  }
  const variantAt = connectionCounts.includes(16) ? 16 : (connectionCounts[0] ?? 16);
  // Issues 13 and 14, at the target's connection count only: each against its own baseline.
  const extra: Array<[string, string, Role, Request]> = [
    ...(WITH_NOWORKER
      ? ([
          ["noworker", "REST execute echo@v1, run worker off (no wasm pool)", "app-noworker", REQUESTS.rest],
        ] as Array<[string, string, Role, Request]>)
      : []),
    ["ratelimit", "REST execute echo@v1, rate limits on (else as `app`)", "app-ratelimit", REQUESTS.rest],
    ["prepaid-free", "prepaid deployment: free echo@v1", "app-prepaid", REQUESTS.rest],
    ["prepaid", "prepaid deployment: echo-prepaid@v1 from the balance", "app-prepaid", REQUESTS.prepaid],
  ];
  for (const [id, label, server, request] of extra) {
    list.push({ id, label, server, request, tokens: "1000 users", connections: variantAt });
  }
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

interface Summary {
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  p99Min: number;
  p99Max: number;
  cpu: number;
  pgCpu: number;
  simCpu: number;
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
    pgCpu: median(runs.map((r) => r.pgCpuUsPerRequest)),
    simCpu: median(runs.map((r) => r.alsoCpuUsPerRequest)),
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
  const webhookSecret = `whsec_bench_${randomUUID().replaceAll("-", "")}`;
  return { databaseUrl: testDb.url, work, jwk, minter, cleanups, webhookSecret };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

/** The stripe-sim child first (every app's Stripe), then the servers; the map holds it as `stripe-sim`. */
async function startAll(roles: Role[], setup: Setup): Promise<Map<Role, Child>> {
  const servers = new Map<Role, Child>();
  const base = { databaseUrl: setup.databaseUrl, jwk: setup.jwk };
  const sim = await startChild(
    { ...base, role: "stripe-sim", stripe: { apiBase: "", webhookSecret: setup.webhookSecret } },
    setup.work,
  );
  setup.cleanups.unshift(sim.stop);
  servers.set("stripe-sim", sim);
  const stripe = { apiBase: sim.url, webhookSecret: setup.webhookSecret };
  // One at a time: each app run migrates and seeds the demos on the shared database.
  for (const role of roles) {
    const server = await startChild({ ...base, role, stripe }, setup.work);
    setup.cleanups.unshift(server.stop);
    servers.set(role, server);
  }
  const app = servers.get("app") ?? [...servers.values()].find((s) => s.role.startsWith("app"));
  // Stripe's events go to one app (they all share the database the webhook writes to).
  if (app) await sim.call({ kind: "webhook-url", url: `${app.url}/api/billing/webhook` });
  return servers;
}

/** The per-use priced spell of the bench: the builtin echo at USD 0.50, published by an admin. */
const PRICED_SPELL = {
  slug: "echo-paid@v1",
  runtime: "builtin",
  artifact: { builtin: "echo" },
  visibility: "public",
  priceAmount: 50,
  currency: "usd",
  metadata: { description: "Bench: priced echo (USD 0.50)" },
};

async function post(base: string, path: string, token: string, body: unknown): Promise<unknown> {
  const response = await fetch(base + path, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Creates the 1,000 users (first execute), saves a test card for each the way a browser would
 * (Checkout URL from the app, completed on the stripe-sim, which sends the signed webhook back),
 * publishes the priced spell, and tops up each user's prepaid balance when a prepaid app runs.
 */
async function prepareUsers(servers: Map<Role, Child>, setup: Setup, tokens: string[]): Promise<void> {
  const app = (servers.get("app") ?? [...servers.values()].find((s) => s.role.startsWith("app"))) as Child;
  const sim = servers.get("stripe-sim") as Child;
  const prepaid = servers.get("app-prepaid");
  const admin = setup.minter.token("bench-admin", undefined, { scope: "spell:admin" });
  await post(app.url, "/api/admin/spells", admin, PRICED_SPELL).catch((error: Error) => {
    // Published by an earlier start on the same database: fine.
    if (!/409|already|exists|CONFLICT/i.test(error.message)) throw error;
  });
  for (let i = 0; i < tokens.length; i += 20) {
    await Promise.all(
      tokens.slice(i, i + 20).map(async (token, j) => {
        await post(app.url, "/api/spell/execute", token, { spell: "echo@v1", input: {} });
        const { url } = (await post(app.url, "/api/billing/checkout-url", token, {
          successUrl: "http://127.0.0.1/done",
          cancelUrl: "http://127.0.0.1/cancel",
        })) as { url: string };
        const sessionId = /cs_[A-Za-z0-9_]+/.exec(url)?.[0];
        if (!sessionId) throw new Error(`no Checkout session in ${url}`);
        await sim.call({ kind: "complete-checkout", sessionId, paymentMethod: "pm_card_visa" });
        if (prepaid) {
          await post(prepaid.url, "/api/billing/top-up", token, {
            amount: 5_000,
            currency: "usd",
            idempotencyKey: `bench-topup-${i + j}`,
          });
        }
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

    const only = process.env.BENCH_ONLY?.split(",");
    const list = scenarios(connectionCounts).filter((s) => !only || only.includes(s.id));
    const roles = new Set<Role>(list.map((s) => s.server));
    // The app seeds the demos and receives Stripe's webhooks: it always runs.
    roles.add("app");
    const servers = await startAll([...roles], setup);
    const app = servers.get("app") as Child;
    await prepareUsers(servers, setup, userTokens);

    // Warm-up: JIT, pools, prepared statements, compiled wasm, verified-token caches.
    for (const scenario of list.filter(
      (s) => s.tokens === "1000 users" && s.connections === connectionCounts.at(-1),
    )) {
      const server = servers.get(scenario.server) as Child;
      await wrk({ server, request: scenario.request, tokenFile: rotateFile, connections: 16, duration: 2 });
    }

    const samples = new Map<string, Run[]>(list.map((s) => [key(s), []]));
    const asyncRuns: AsyncRun[] = [];
    let fresh = 0;
    for (let round = 0; round < rounds; round++) {
      if (!only) {
        const queued = await asyncLatency(app, userTokens, setup.databaseUrl, Math.max(duration, 5));
        asyncRuns.push(queued);
        process.stderr.write(
          `round ${round + 1}/${rounds}  async enqueue→start at ${fmt(queued.rate)} runs/s: p50 ${fmt(queued.p50Ms, 1)} ms  p99 ${fmt(queued.p99Ms, 1)} ms  (${queued.accepted}/${queued.sent} accepted)\n`,
        );
      }
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
          alsoPid: (servers.get("stripe-sim") as Child).pid,
        });
        samples.get(key(scenario))?.push(run);
        process.stderr.write(
          `round ${round + 1}/${rounds}  ${scenario.id.padEnd(13)} ${scenario.tokens.padEnd(17)} c=${String(scenario.connections).padEnd(3)} ${fmt(run.rps).padStart(7)} req/s  p99 ${fmt(run.p99Ms, 1)} ms  cpu ${fmt(run.cpuUsPerRequest)} µs/req  errors ${run.errors}\n`,
        );
      }
    }

    const results = new Map([...samples].map(([k, runs]) => [k, summarize(runs)]));
    if (only) {
      for (const scenario of list) {
        const s = results.get(key(scenario));
        if (s)
          process.stdout.write(
            `${scenario.id.padEnd(13)} ${scenario.tokens.padEnd(17)} c=${String(scenario.connections).padEnd(3)} ${JSON.stringify(s)}\n`,
          );
      }
      return;
    }
    const queued: AsyncRun[] = asyncRuns;
    const command = `BENCH_DURATION=${duration} BENCH_ROUNDS=${rounds} BENCH_CONNECTIONS=${connectionCounts.join(",")} pnpm --filter @spell/server bench`;
    await writeReport({ results, list, command, duration, rounds, connectionCounts, queued });
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
  queued: AsyncRun[];
}): Promise<void> {
  const { results, list, command, duration, rounds, queued } = options;
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
    "- The app runs as shipped (`startServer`, `NODE_ENV=production`; JSON access lines to stdout → " +
      "/dev/null, metrics on; `SPELL_BILLING=stripe`: the real Stripe adapter with `STRIPE_API_BASE` pointing at " +
      "`@spell/stripe-sim` in a child process of its own, a zero-latency Stripe whose CPU is not the server's; its " +
      "Checkout completions reach the app as signed webhooks over HTTP). One process per configuration: `app` " +
      "(wasm pool on), `app-nocache` (`SPELL_TOKEN_CACHE_SIZE=0`), `app-noworker` (`runWorker: false`: no pg-boss run worker), " +
      "`app-ratelimit` (`SPELL_RATE_LIMIT_USER`/`_SPELL` = 100000000/60: never refuses), `app-prepaid` " +
      "(`SPELL_BILLING_MODE=prepaid`, each user topped up with USD 50 before the run). All share one database.",
    "- Server CPU is the server process's utime+stime over the run, with its direct children's (the wasm sandbox " +
      "processes), divided by its requests; PostgreSQL CPU is every `postgres` process's on the machine over the " +
      "same run (the same 2 cores serve the server, PostgreSQL and wrk); the stripe-sim child's CPU per priced " +
      "request is listed separately below the tables.",
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
      "| path | req/s (min–max) | vs Express floor | vs node:http floor | p50 ms | p99 ms (min–max) | p99 vs Express floor | server CPU µs/req | PostgreSQL CPU µs/req | errors |",
      "|---|---|---|---|---|---|---|---|---|---|",
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
        "| path | tokens | req/s (min–max) | vs Express floor | vs node:http floor | p50 ms | p99 ms (min–max) | p99 vs Express floor | server CPU µs/req | PostgreSQL CPU µs/req | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
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
    [
      `(bound) priced floor / node:http floor (${c16} c)`,
      ratio(at("floor-priced", c16), at("floor-http", c16)),
      "—",
      () => true,
    ],
    [
      `priced execute / priced floor (${c16} c)`,
      ratio(at("priced", c16), at("floor-priced", c16)),
      "—",
      () => true,
    ],
    [
      `issue 13: free execute, run worker on / off (${c16} c)`,
      ratio(at("rest", c16), at("noworker", c16)),
      "≥ 0.95",
      (v) => v >= 0.95,
    ],
    [
      `issue 14: prepaid priced / free, same deployment (${c16} c)`,
      ratio(at("prepaid", c16), at("prepaid-free", c16)),
      "≥ 0.80",
      (v) => v >= 0.8,
    ],
    [
      `issue 14: free execute, rate limits on / off (${c16} c)`,
      ratio(at("ratelimit", c16), at("rest", c16)),
      "≥ 0.90",
      (v) => v >= 0.9,
    ],
  ];
  const priced = list.filter((x) => x.id === "priced" || x.id === "prepaid" || x.id === "floor-priced");
  if (priced.length > 0) {
    lines.push(
      "## The stripe-sim child's CPU (not counted in the server's)",
      "",
      "| path | connections | server CPU µs/req | stripe-sim CPU µs/req |",
      "|---|---|---|---|",
    );
    for (const s of priced) {
      const r = results.get(key(s));
      if (r) lines.push(`| ${s.label} | ${s.connections} | ${fmt(r.cpu)} | ${fmt(r.simCpu)} |`);
    }
    lines.push("");
  }
  if (queued.length > 0) {
    lines.push(
      "## Queued path (issue 13): enqueue → start at a fixed rate",
      "",
      "Open-loop driver in the bench process: `POST /api/spell/execute` `echo@v1` with `Prefer: respond-async` at a fixed rate (each request leaves on schedule), 1,000 users rotating, against the app with its run worker (pg-boss, concurrency 8). Latency is each row's `attempted_at - created_at` (insert of the queued row → the worker's `queued → running` claim), read from the database once every run has started.",
      "",
      "| round | requests | achieved rate (req/s) | accepted (202) | p50 ms | p99 ms | max ms | never started |",
      "|---|---|---|---|---|---|---|---|",
    );
    for (const [i, q] of queued.entries()) {
      lines.push(
        `| ${i + 1} | ${q.sent} | ${fmt(q.rate)} | ${q.accepted} | ${fmt(q.p50Ms, 1)} | ${fmt(q.p99Ms, 1)} | ${fmt(q.maxMs, 1)} | ${q.unstarted} |`,
      );
    }
    lines.push(
      `| median | | | | ${fmt(median(queued.map((q) => q.p50Ms)), 1)} | ${fmt(median(queued.map((q) => q.p99Ms)), 1)} | | |`,
      "",
    );
  }
  lines.push(`## Targets (issue 11), ratios of this run`, "");
  lines.push("| ratio | measured | target | met |", "|---|---|---|---|");
  for (const [name, value, target, ok] of targets) {
    lines.push(
      `| ${name} | ${Number.isNaN(value) ? "—" : `${fmt(value, 2)}x`} | ${target} | ${Number.isNaN(value) ? "—" : target === "—" ? "(reference)" : ok(value) ? "yes" : "no"} |`,
    );
  }
  lines.push("");

  const file = join(REPO_ROOT, "BENCHMARKS.md");
  const previous = await readFile(file, "utf8").catch(() => "");
  // The writes and memory sections come from their own modes: kept as they are.
  const marks = [WRITES_MARK, MEMORY_MARK].map((m) => previous.indexOf(m)).filter((i) => i !== -1);
  const tail = marks.length === 0 ? "" : previous.slice(Math.min(...marks));
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
    fmt(r.pgCpu),
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
    await prepareUsers(servers, setup, userTokens);
    const mix = [REQUESTS.rest, REQUESTS.trpc, REQUESTS.wasm, REQUESTS.priced];
    const started = Date.now();
    let done = 0;
    let errors = 0;
    let rssFirst: number | undefined;
    const samples: string[] = [];
    const rssStart = await rssMiB(app.pid);
    // A shared machine may be too slow for the whole count: past the limit the run stops and the
    // section says how far it got.
    const maxSeconds = Number(process.env.BENCH_MEMORY_MAX_SECONDS ?? Number.POSITIVE_INFINITY);
    while (done < total && (Date.now() - started) / 1000 < maxSeconds) {
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
      `- ${fmt(done)} requests in ${fmt((Date.now() - started) / 1000)} s, ${errors} errors${done < total ? ` — stopped by BENCH_MEMORY_MAX_SECONDS=${maxSeconds} before ${fmt(total)}` : ""}`,
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
  // BENCH_PROFILE_SIM=1 profiles the stripe-sim child too (from its start).
  if (process.env.BENCH_PROFILE_SIM === "1") process.env.BENCH_CPU_PROF = dir;
  else delete process.env.BENCH_CPU_PROF;
  try {
    const userTokens = Array.from({ length: USERS }, (_, i) => setup.minter.token(`bench-user-${i}`));
    const rotateFile = join(setup.work, "users.tokens");
    await writeFile(rotateFile, userTokens.join("\n"));
    // Users, cards and balances are prepared by unprofiled servers; the profiled one starts after,
    // on the same database, so its profile holds the measured path only (plus its own start-up).
    const servers = await startAll(role === "app-prepaid" ? ["app", role] : ["app"], setup);
    delete process.env.BENCH_CPU_PROF;
    await prepareUsers(servers, setup, userTokens);
    for (const [name, child] of servers) if (name !== "stripe-sim") child.stop();
    const sim = servers.get("stripe-sim") as Child;
    process.env.BENCH_CPU_PROF = dir;
    const server = await startChild(
      {
        role,
        databaseUrl: setup.databaseUrl,
        jwk: setup.jwk,
        stripe: { apiBase: sim.url, webhookSecret: setup.webhookSecret },
      },
      setup.work,
    );
    setup.cleanups.unshift(server.stop);
    delete process.env.BENCH_CPU_PROF;
    await wrk({ server, request: REQUESTS[which], tokenFile: rotateFile, connections: 16, duration: 2 });
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

const WRITES_MARK = "## Database statements and Stripe calls per request";
const PG_LOG = process.env.BENCH_PG_LOG ?? "/var/log/postgresql/postgresql-15-main.log";

/**
 * `BENCH_MODE=writes`: what one request of each path costs in Postgres statements and Stripe
 * calls. The bench database gets `log_statement = 'all'` (a per-database setting: nobody else's
 * database logs), BENCH_WRITES_COUNT sequential requests per path are sent, and the server log's
 * lines for this database are grouped by statement (parameters are not logged: `execute <name>`
 * lines carry the SQL text). pg-boss's own polling shows under `pgboss.*` and is not per request.
 */
async function writes(): Promise<void> {
  const count = Number(process.env.BENCH_WRITES_COUNT ?? 100);
  const setup = await setUp();
  const dbName = new URL(setup.databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: setup.databaseUrl });
  await admin.connect();
  await admin.query(`ALTER DATABASE "${dbName}" SET log_statement = 'all'`);
  await admin.end();
  try {
    const userTokens = Array.from({ length: USERS }, (_, i) => setup.minter.token(`bench-user-${i}`));
    const servers = await startAll(["app", "app-prepaid", "app-ratelimit"], setup);
    await prepareUsers(servers, setup, userTokens);
    const sim = servers.get("stripe-sim") as Child;
    const paths: Array<[string, Role, Request]> = [
      ["free REST execute echo@v1", "app", REQUESTS.rest],
      ["priced per-use echo-paid@v1 (Stripe authorize + capture)", "app", REQUESTS.priced],
      ["prepaid echo-prepaid@v1 (balance)", "app-prepaid", REQUESTS.prepaid],
      ["free REST execute echo@v1, rate limits on", "app-ratelimit", REQUESTS.rest],
      ["GET /api/me", "app", REQUESTS.me],
      ["GET /api/me (prepaid deployment)", "app-prepaid", REQUESTS.me],
    ];
    const out: string[] = [
      WRITES_MARK,
      "",
      `- Command: \`BENCH_MODE=writes BENCH_WRITES_COUNT=${count} BENCH_USERS=${USERS} pnpm --filter @spell/server bench\``,
      `- Date: ${new Date().toISOString()}; ${count} sequential requests per path (1 connection), warm`,
      "- Method: `ALTER DATABASE <bench db> SET log_statement = 'all'`, then the PostgreSQL log's lines for that database grouped by statement; Stripe calls counted by the stripe-sim child per `METHOD path`. Figures are per request (total ÷ requests).",
      "",
    ];
    for (const [label, role, request] of paths) {
      const server = servers.get(role) as Child;
      // Warm (prepared statements, caches) before counting.
      for (let i = 0; i < 20; i++) await send(server, request, userTokens[i % userTokens.length] as string);
      await sleep(1500);
      const from = (await stat(PG_LOG)).size;
      const simBefore = (await sim.call({ kind: "request-counts" })) as Record<string, number>;
      for (let i = 0; i < count; i++)
        await send(server, request, userTokens[i % userTokens.length] as string);
      await sleep(1500);
      const simAfter = (await sim.call({ kind: "request-counts" })) as Record<string, number>;
      const statements = await statementsSince(from, dbName);
      out.push(`### ${label}`, "", "| per request | statement |", "|---|---|");
      let total = 0;
      let writesPerRequest = 0;
      for (const [text, n] of [...statements].sort((a, b) => b[1] - a[1])) {
        const per = n / count;
        if (text.includes("pgboss.")) {
          out.push(`| ${fmt(per, 2)} | (background, pg-boss) \`${text.slice(0, 110)}\` |`);
          continue;
        }
        total += per;
        if (
          /^(insert|update|delete|with)/i.test(text) ||
          /\b(insert into|update \w+ set|delete from)\b/i.test(text)
        )
          writesPerRequest += per;
        out.push(`| ${fmt(per, 2)} | \`${text.slice(0, 140).replaceAll("|", "\\|")}\` |`);
      }
      const stripeCalls = Object.entries(simAfter)
        .map(([name, n]) => [name, (n - (simBefore[name] ?? 0)) / count] as const)
        .filter(([, n]) => n > 0);
      out.push(
        "",
        `- statements per request (pg-boss polling excluded): **${fmt(total, 2)}**, of which writes (INSERT/UPDATE/DELETE, incl. inside CTEs): **${fmt(writesPerRequest, 2)}**`,
        `- Stripe calls per request: ${stripeCalls.length === 0 ? "none" : stripeCalls.map(([n, c]) => `${n} × ${fmt(c, 2)}`).join(", ")}`,
        "",
      );
      process.stderr.write(
        `${label}: ${fmt(total, 2)} statements, ${fmt(writesPerRequest, 2)} writes per request\n`,
      );
    }
    const file = join(REPO_ROOT, "BENCHMARKS.md");
    const previous = await readFile(file, "utf8").catch(() => "");
    const start = previous.indexOf(WRITES_MARK);
    const memoryAt = previous.indexOf(MEMORY_MARK);
    const head =
      start !== -1
        ? previous.slice(0, start)
        : memoryAt !== -1
          ? previous.slice(0, memoryAt)
          : `${previous}\n`;
    const tail = memoryAt !== -1 && memoryAt > start ? previous.slice(memoryAt) : "";
    await writeFile(file, `${head}${out.join("\n")}\n${tail}`);
    process.stdout.write(`${out.join("\n")}\nwritten to ${file}\n`);
  } finally {
    for (const cleanup of setup.cleanups) await Promise.resolve(cleanup()).catch(() => {});
  }
}

async function send(server: Child, request: Request, token: string): Promise<void> {
  const response = await fetch(server.url + request.path, {
    method: request.method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(request.body ? { "content-type": "application/json" } : {}),
      ...(request.headers ?? {}),
    },
    ...(request.body ? { body: request.body } : {}),
  });
  const text = await response.text();
  if (response.status >= 400) throw new Error(`${request.path}: ${response.status} ${text}`);
}

interface AsyncRun {
  sent: number;
  accepted: number;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  unstarted: number;
}

/**
 * Issue 13's queued path: `Prefer: respond-async` executes at a fixed rate (an open-loop driver:
 * each request leaves at its scheduled time whatever the previous answers did), then the rows'
 * `attempted_at - created_at` (the worker's `queued → running` claim minus the insert, both on
 * the database's clock) once every run has started.
 */
async function asyncLatency(
  app: Child,
  tokens: string[],
  databaseUrl: string,
  seconds: number,
  rate = 100,
): Promise<AsyncRun> {
  const total = Math.round(rate * seconds);
  const ids: string[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(
      fetch(`${app.url}/api/spell/execute`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens[i % tokens.length]}`,
          "content-type": "application/json",
          prefer: "respond-async",
        },
        body: ECHO,
      }).then(async (response) => {
        const body = (await response.json()) as { executionId?: string };
        if (response.status === 202 && body.executionId) ids.push(body.executionId);
      }),
    );
  }
  await Promise.all(pending);
  const achieved = total / ((performance.now() - start) / 1000);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    let unstarted = ids.length;
    for (let tries = 0; tries < 120 && unstarted > 0; tries++) {
      const { rows } = await pool.query(
        "SELECT count(*)::int AS n FROM executions WHERE id = ANY($1::uuid[]) AND status = 'queued'",
        [ids],
      );
      unstarted = rows[0].n as number;
      if (unstarted > 0) await sleep(500);
    }
    const { rows } = await pool.query(
      `SELECT extract(epoch FROM attempted_at - created_at) * 1000 AS ms FROM executions
        WHERE id = ANY($1::uuid[]) AND status <> 'queued' ORDER BY 1`,
      [ids],
    );
    const ms = rows.map((row) => Number(row.ms));
    const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] ?? Number.NaN;
    return {
      sent: total,
      accepted: ids.length,
      rate: achieved,
      p50Ms: pct(50),
      p99Ms: pct(99),
      maxMs: ms.at(-1) ?? Number.NaN,
      unstarted,
    };
  } finally {
    await pool.end();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The log's statements for one database since `from` (bytes), normalised and counted. */
async function statementsSince(from: number, dbName: string): Promise<Map<string, number>> {
  const handle = await open(PG_LOG, "r");
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(size - from);
    await handle.read(buffer, 0, buffer.length, from);
    const entries: string[] = [];
    for (const line of buffer.toString("utf8").split("\n")) {
      if (/^\d{4}-\d\d-\d\d /.test(line)) entries.push(line);
      else if (entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
    }
    const counts = new Map<string, number>();
    const marker = `@${dbName} LOG:`;
    for (const entry of entries) {
      const at = entry.indexOf(marker);
      if (at === -1) continue;
      const match = /(?:statement|execute [^:]*):\s*(.*)$/.exec(entry.slice(at + marker.length));
      if (!match?.[1]) continue;
      const text = match[1].replace(/\s+/g, " ").trim();
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    return counts;
  } finally {
    await handle.close();
  }
}

if (process.env.BENCH_SERVE) {
  await child();
} else if (process.env.BENCH_MODE === "memory") {
  await memory();
} else if (process.env.BENCH_MODE === "writes") {
  await writes();
} else if (process.env.BENCH_MODE === "profile") {
  await profile();
} else {
  await main();
}
