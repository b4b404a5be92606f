import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppError } from "@spell/contracts";
import { createDatabase, startEmbeddedPostgres } from "@spell/db";
import { createWasmRuntime, WASM_DEMOS } from "@spell/runtime-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "./app.ts";
import { createMetrics } from "./observability/metrics.ts";
import { startMetricsServer } from "./observability/metrics-server.ts";
import { createFakeEngine } from "./testutil/fake-engine.ts";
import { call, type Listening, listen } from "./testutil/http.ts";

/** The value of one sample line `name{labels} value` in a Prometheus text answer (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf("}"));
    const found = Object.fromEntries(
      [...body.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1] ?? "", match[2] ?? ""]),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value))
      return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

const engine = createFakeEngine({
  executeSpell: async (authorization, request) => {
    if (!authorization)
      throw new AppError("UNAUTHORIZED", "Missing bearer token", { reason: "missing_token" });
    if (request.spell === "paid@v1")
      return {
        ok: true,
        executionId: "exe_paid",
        spell: { slug: "paid@v1", runtime: "wasm" },
        output: {},
        billing: { charged: true, amount: 50, currency: "usd", billingRecordId: "bil_1" },
        durationMs: 1,
      };
    if (request.spell === "declined@v1")
      throw new AppError("BILLING_FAILED", "Declined", { declineCode: "card_declined" });
    return {
      ok: true,
      executionId: "exe_free",
      spell: { slug: request.spell, runtime: "builtin" },
      output: request.input,
      billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
      durationMs: 0,
    };
  },
});

describe("metrics: happy", () => {
  let server: Listening;
  beforeAll(async () => {
    const metrics = createMetrics({ processMetrics: false });
    server = await listen(
      createApp({ engine, ping: async () => undefined, metrics, metricsEndpoint: { token: undefined } }),
    );
  });
  afterAll(() => server.close());

  it("counts a known set of requests by route and status, executions and charges by outcome", async () => {
    const execute = (spell: string, token?: string) =>
      call(server.url, "POST", "/api/spell/execute", {
        ...(token ? { token } : {}),
        body: { spell, input: {} },
      });
    for (let i = 0; i < 3; i += 1) expect((await execute("echo@v1", "alice")).status).toBe(200);
    expect((await execute("paid@v1", "alice")).status).toBe(200);
    expect((await execute("paid@v1", "alice")).status).toBe(200);
    expect((await execute("declined@v1", "alice")).status).toBe(402);
    expect((await execute("echo@v1")).status).toBe(401);
    expect((await call(server.url, "GET", "/healthz")).status).toBe(200);
    for (const path of ["/a", "/b/c", "/wp-login.php"]) await call(server.url, "GET", path);

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const requests = "spell_http_request_duration_seconds_count";
    const route = "/api/spell/execute";
    expect(sample(text, requests, { method: "POST", route, status: "200" })).toBe(5);
    expect(sample(text, requests, { method: "POST", route, status: "402" })).toBe(1);
    expect(sample(text, requests, { method: "POST", route, status: "401" })).toBe(1);
    expect(sample(text, requests, { method: "GET", route: "/healthz", status: "200" })).toBe(1);
    // Unknown paths are one series, whatever the path.
    expect(sample(text, requests, { method: "GET", route: "unmatched", status: "404" })).toBe(3);
    expect(text).not.toContain("wp-login");

    const executions = "spell_executions_total";
    expect(sample(text, executions, { runtime: "builtin", outcome: "succeeded" })).toBe(3);
    expect(sample(text, executions, { runtime: "wasm", outcome: "succeeded" })).toBe(2);
    expect(sample(text, executions, { outcome: "BILLING_FAILED" })).toBe(1);
    expect(sample(text, executions, { outcome: "UNAUTHORIZED" })).toBe(1);
    expect(sample(text, "spell_charges_total", { outcome: "charged" })).toBe(2);
    expect(sample(text, "spell_charges_total", { outcome: "BILLING_FAILED" })).toBe(1);
    expect(sample(text, "spell_charged_amount_total", { currency: "usd" })).toBe(100);
  });

  it("includes process metrics and event-loop lag when asked to", async () => {
    const metrics = createMetrics();
    const text = await metrics.registry.metrics();
    expect(text).toContain("nodejs_eventloop_lag_seconds");
    expect(text).toContain("process_cpu_user_seconds_total");
  });
});

describe("metrics: pools", () => {
  it("shows the wasm pool's and the database pools' counts, read at each scrape", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "spell-metrics-pools-"));
    const embedded = await startEmbeddedPostgres({ dataDir });
    const database = createDatabase({ url: embedded.url });
    const wasm = createWasmRuntime({ loadBinary: async () => new Uint8Array(), poolSize: 1 });
    const metrics = createMetrics({ processMetrics: false });
    metrics.watchDatabasePool(() => database.stats());
    metrics.watchWasmPool(() => wasm.stats());
    const server = await listen(
      createApp({ engine, ping: async () => undefined, metrics, metricsEndpoint: { token: undefined } }),
    );
    try {
      const scrape = async () => (await fetch(`${server.url}/metrics`)).text();
      const before = await scrape();
      expect(before).toContain("# TYPE spell_wasm_pool gauge");
      expect(sample(before, "spell_wasm_pool", { state: "idle" })).toBe(0);
      expect(sample(before, "spell_db_pool_connections", { pool: "main", state: "open" })).toBe(0);

      // A publish-time compile starts one sandbox process, idle once done; a ping opens one connection.
      const demo = WASM_DEMOS[0];
      if (!demo) throw new Error("no wasm demo");
      await wasm.prepare({ wasmBase64: (await readFile(demo.file)).toString("base64") }, {});
      await database.ping();
      const after = await scrape();
      expect(sample(after, "spell_wasm_pool", { state: "idle" })).toBe(1);
      expect(sample(after, "spell_wasm_pool", { state: "busy" })).toBe(0);
      expect(sample(after, "spell_wasm_pool", { state: "queued" })).toBe(0);
      expect(sample(after, "spell_db_pool_connections", { pool: "main", state: "open" })).toBe(1);
      expect(sample(after, "spell_db_pool_connections", { pool: "main", state: "idle" })).toBe(1);
      expect(after).toMatch(/^spell_db_pool_waiting\{pool="main"\} 0$/m);
    } finally {
      await server.close();
      await wasm.close();
      await database.close();
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("metrics: security", () => {
  let server: Listening;
  const token = "metrics-token-0123456789";
  beforeAll(async () => {
    const metrics = createMetrics({ processMetrics: false });
    server = await listen(
      createApp({ engine, ping: async () => undefined, metrics, metricsEndpoint: { token } }),
    );
  });
  afterAll(() => server.close());

  it("refuses /metrics without its bearer token, as JSON", async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: token },
    ];
    for (const headers of attempts) {
      const response = await call(server.url, "GET", "/metrics", { headers });
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ ok: false, error: { code: "UNAUTHORIZED" } });
    }
    const allowed = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(allowed.status).toBe(200);
  });

  it("is not served on the API port unless asked (production without a token, or a separate port)", async () => {
    const metrics = createMetrics({ processMetrics: false });
    const api = await listen(createApp({ engine, ping: async () => undefined, metrics }));
    const separate = await startMetricsServer(metrics, { host: "127.0.0.1", token: undefined }, 0);
    try {
      expect((await call(api.url, "GET", "/healthz")).status).toBe(200);
      expect((await call(api.url, "GET", "/metrics")).status).toBe(404);
      const text = await (await fetch(separate.url)).text();
      expect(sample(text, "spell_http_request_duration_seconds_count", { route: "/healthz" })).toBe(1);
    } finally {
      await separate.close();
      await api.close();
    }
  });
});
