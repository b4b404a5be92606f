import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CountingUpstream, startCountingUpstream } from "./testutil/billing.ts";
import { signToken } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { type ApiProcess, startApiProcess, stopApiProcesses } from "./testutil/processes.ts";

/**
 * One user's calls keep their latency while others attack (`pnpm test:stress`): slow clients
 * (headers and bodies trickled a byte at a time, from another loopback address so the per-client
 * connection cap applies to them and not to the victim), a flood of concurrent calls from one user
 * (slow api spells holding the server's runs, fast ones hammering it), and oversized requests (tRPC
 * batches, bodies over the limit). The server is a real process (`src/main.ts`); the victim's p99
 * under attack is compared with its p99 on the same server idle.
 *
 * Bounded: every loop stops when the victim's measured calls are done, and none runs longer than
 * `ATTACK_MAX_MS`; all traffic is on 127.0.0.0/8.
 */

const SAMPLES = 300;
/** Idle and attacked measurements alternate this many times; the medians of their p99s are compared. */
const ROUNDS = 3;
const ATTACK_MAX_MS = 120_000;
/**
 * The pause after each fast flood call and each oversized request, per loop (8 fast loops: about
 * 200 calls/s; 2 oversized loops: about 40/s, half of them 1 MiB bodies). Unpaced, the attacker's
 * own client saturates one of the machine's two cores and the server the other: the victim then
 * measures CPU contention, which only a per-user rate limit can answer (see RELIABILITY.md).
 */
const PACE_MS = 40;
/** The attackers' source address: another client, as far as the server's per-client cap is concerned. */
const ATTACKER_ADDRESS = "127.0.0.2";

let testDb: TestDatabase;
let upstream: CountingUpstream;
let dataDir: string;
let api: ApiProcess | undefined;
let url = "";

async function startApi(): Promise<string> {
  api = await startApiProcess({
    env: {
      DATABASE_URL: testDb.url,
      SPELL_DATA_DIR: dataDir,
      SPELL_BILLING: "none",
      // The product's protection against one user's flood: a per-user execute limit, shared by
      // every process through Postgres.
      SPELL_RATE_LIMIT_USER: "200/1",
      LOG_LEVEL: "warn",
      SPELL_SIGNING_KEY: "signing-key-for-api-spells-0123456789",
      SPELL_API_ALLOWED_HOSTS: upstream.host,
      SPELL_WASM_WORKERS: "1",
    },
  });
  return api.url;
}

const serverUrl = process.env.DATABASE_URL;

beforeAll(async () => {
  if (!serverUrl) return;
  testDb = await createTestDatabase({ url: serverUrl });
  upstream = await startCountingUpstream();
  upstream.delayMs = 200;
  dataDir = await mkdtemp(join(tmpdir(), "spell-stress-"));
  url = await startApi();
}, 90_000);

afterAll(async () => {
  if (api) await stopApiProcesses([api]);
  await upstream?.close();
  await testDb?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** The victim's calls, one after the other: milliseconds each, every one answered 200. */
async function victimLatencies(token: string, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await call(url, "POST", "/api/spell/execute", {
      token,
      body: { spell: "echo@v1", input: { i, text: "the victim's ordinary call" } },
    });
    latencies.push(performance.now() - started);
    expect(response.status).toBe(200);
    // An ordinary client's pace (well under the per-user limit), not a flood of its own.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return latencies;
}

/**
 * The attackers, in a process of their own so that their client work does not delay the victim's
 * client (the measurement would otherwise be of this process, not of the server). Plain JavaScript
 * (node:net and fetch); it runs until its stdin closes or `ATTACK_MAX_MS`, then prints its counts.
 */
const ATTACKER = String.raw`
import { connect } from "node:net";
const { url, flooder, slowSpell, maxMs, address, kinds, paceMs } = JSON.parse(process.env.ATTACK);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const port = Number(new URL(url).port);
const stopAt = Date.now() + maxMs;
let done = false;
process.stdin.on("end", () => { done = true; });
process.stdin.resume();
const running = () => !done && Date.now() < stopAt;
const counts = { flood: 0, floodRefused: 0, oversized: 0, oversizedAccepted: 0, slowClients: 0 };
const sockets = [];
function trickle(head) {
  const socket = connect({ host: "127.0.0.1", port, localAddress: address });
  sockets.push(socket);
  socket.on("error", () => {});
  socket.on("data", () => {});
  socket.once("connect", () => {
    socket.write(head);
    const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write("x")), 1000);
  });
}
async function post(path, body) {
  try {
    const response = await fetch(url + path, {
      method: "POST",
      headers: { authorization: "Bearer " + flooder, "content-type": "application/json" },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
async function flood(spell, pace) {
  for (let i = 0; i < 5000 && running(); i++) {
    const status = await post("/api/spell/execute", JSON.stringify({ spell, input: { i } }));
    counts.flood += 1;
    if (status !== 200) counts.floodRefused += 1;
    if (pace > 0) await pause(pace);
  }
}
const batchPath = "/trpc/" + Array(1000).fill("spell.execute").join(",") + "?batch=1";
const batchBody = JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, k) => [String(k), { spell: "echo@v1", input: {} }])));
const bigBody = JSON.stringify({ spell: "echo@v1", input: { blob: "x".repeat(1100000) } });
async function oversized() {
  for (let i = 0; i < 2000 && running(); i++) {
    const status = i % 2 === 0 ? await post(batchPath, batchBody) : await post("/api/spell/execute", bigBody);
    counts.oversized += 1;
    if (status > 0 && status < 400) counts.oversizedAccepted += 1;
    if (paceMs > 0) await pause(paceMs);
  }
}
const work = [];
if (kinds.includes("slow")) {
  for (let i = 0; i < 150; i++) trickle("POST /api/spell/execute HTTP/1.1\r\nHost: a\r\nX-Slow: ");
  for (let i = 0; i < 100; i++)
    trickle("POST /api/spell/execute HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{");
  counts.slowClients = sockets.length;
}
if (kinds.includes("flood")) {
  for (let i = 0; i < 24; i++) work.push(flood(slowSpell, 0));
  for (let i = 0; i < 8; i++) work.push(flood("echo@v1", paceMs));
}
if (kinds.includes("oversized")) work.push(oversized(), oversized());
const wait = () => new Promise((resolve) => setTimeout(resolve, 50));
while (running()) await wait();
await Promise.all(work);
for (const socket of sockets) socket.destroy();
process.stdout.write(JSON.stringify(counts));
process.exit(0);
`;

interface AttackCounts {
  flood: number;
  floodRefused: number;
  oversized: number;
  oversizedAccepted: number;
  slowClients: number;
}

/** Starts the attackers; `stop()` ends them and returns what they did. */
function startAttack(kinds: string[], flooder: string, paceMs: number) {
  const attacker = spawn(process.execPath, ["--input-type=module", "-e", ATTACKER], {
    env: {
      PATH: process.env.PATH ?? "",
      ATTACK: JSON.stringify({
        url,
        flooder,
        slowSpell: "slow-api@v1",
        maxMs: ATTACK_MAX_MS,
        address: ATTACKER_ADDRESS,
        kinds,
        paceMs,
      }),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  attacker.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => attacker.once("exit", () => resolve()));
  return {
    async stop(): Promise<AttackCounts> {
      attacker.stdin?.end();
      await exited;
      return JSON.parse(out) as AttackCounts;
    },
  };
}

describe.runIf(serverUrl)("another user's latency under attack (needs DATABASE_URL)", () => {
  it("slow clients, a one-user flood and oversized requests: every honest call answers, latency reported", async () => {
    const admin = await signToken("admin-stress", { admin: true });
    const published = await call(url, "POST", "/api/admin/spells", {
      token: admin,
      body: {
        slug: "slow-api@v1",
        runtime: "api",
        artifact: { apiEndpoint: upstream.url },
        visibility: "public",
        priceAmount: 0,
      },
    });
    expect(published.status).toBe(200);
    const victim = await signToken("stress-victim");
    const flooder = await signToken("stress-flooder");

    // Idle and attacked rounds interleaved, so a neighbour's load on the machine weighs on both.
    await victimLatencies(victim, 50);
    const idleRounds: number[][] = [];
    const attackedRounds: number[][] = [];
    let counts: AttackCounts = {
      flood: 0,
      floodRefused: 0,
      oversized: 0,
      oversizedAccepted: 0,
      slowClients: 0,
    };
    for (let round = 0; round < ROUNDS; round++) {
      idleRounds.push(await victimLatencies(victim, SAMPLES));
      const attack = startAttack(
        (process.env.STRESS_KINDS ?? "slow,flood,oversized").split(","),
        flooder,
        Number(process.env.STRESS_PACE_MS ?? PACE_MS),
      );
      // Let the attack reach its steady state before measuring.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      attackedRounds.push(await victimLatencies(victim, SAMPLES));
      const done = await attack.stop();
      counts = {
        flood: counts.flood + done.flood,
        floodRefused: counts.floodRefused + done.floodRefused,
        oversized: counts.oversized + done.oversized,
        oversizedAccepted: counts.oversizedAccepted + done.oversizedAccepted,
        slowClients: Math.max(counts.slowClients, done.slowClients),
      };
    }
    const idle = idleRounds.flat();
    const attacked = attackedRounds.flat();
    const medianP99 = (rounds: number[][]) =>
      percentile(
        rounds.map((latencies) => percentile(latencies, 99)),
        50,
      );

    const idleP99 = medianP99(idleRounds);
    const attackedP99 = medianP99(attackedRounds);
    const figures = {
      idle: { p50: percentile(idle, 50), p99: idleP99, rounds: idleRounds.map((r) => percentile(r, 99)) },
      attacked: {
        p50: percentile(attacked, 50),
        p99: attackedP99,
        rounds: attackedRounds.map((r) => percentile(r, 99)),
      },
      ...counts,
    };
    process.stdout.write(`isolation figures: ${JSON.stringify(figures)}\n`);
    expect(counts.slowClients).toBe(250);
    expect(counts.flood).toBeGreaterThan(100);
    expect(counts.oversized).toBeGreaterThan(20);
    expect(counts.oversizedAccepted).toBe(0);
    // Latency is a speed figure: reported (RELIABILITY.md, the line above), never asserted — a timed
    // assertion on a shared 2-core machine fails on a neighbour's load, not on a defect.
    process.stdout.write(
      `isolation p99 ratio attacked/idle: ${(attackedP99 / idleP99).toFixed(2)}x (target ≤ 2x)\n`,
    );
    // And the server is healthy after.
    expect((await call(url, "GET", "/healthz")).status).toBe(200);
  }, 300_000);
});
