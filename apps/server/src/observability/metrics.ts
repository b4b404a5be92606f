import { timingSafeEqual } from "node:crypto";
import { AppError, type ExecuteOutput, isAppError } from "@spell/contracts";
import type { Database } from "@spell/db";
import type { WasmPoolStats } from "@spell/runtime-wasm";
import type { RequestHandler } from "express";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { sendError } from "../http/guards.ts";

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Error codes that are about the money, not the run: the charge step's own outcomes. */
const CHARGE_CODES = new Set([
  "PAYMENT_METHOD_REQUIRED",
  "BILLING_FAILED",
  "PAYMENT_REQUIRES_ACTION",
  "BILLING_NOT_CONFIGURED",
]);

/**
 * The server's Prometheus metrics, in a registry of its own (one per app, so two apps in one test
 * process count apart). Request rate is the histogram's `_count`: one observation per request, not
 * a counter and a histogram both.
 */
export interface Metrics {
  readonly registry: Registry;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  executionSucceeded(result: ExecuteOutput): void;
  executionFailed(error: unknown): void;
  /** Report the wasm pool's counts at every scrape (read then, nothing is counted per request). */
  watchWasmPool(stats: () => WasmPoolStats): void;
  /** Report the database pools' counts at every scrape. */
  watchDatabasePool(stats: () => DatabaseStats): void;
}

type DatabaseStats = ReturnType<Database["stats"]>;

export interface MetricsOptions {
  /** Process metrics (CPU, memory, handles, GC) and event-loop lag; off in tests that count exactly. */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  const requestSeconds = new Histogram({
    name: "spell_http_request_duration_seconds",
    help: "HTTP requests by method, route and status, and how long they took",
    labelNames: ["method", "route", "status"] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const executions = new Counter({
    name: "spell_executions_total",
    help: "Spell executions by runtime and outcome (succeeded, or the error code)",
    labelNames: ["runtime", "outcome"] as const,
    registers: [registry],
  });
  const charges = new Counter({
    name: "spell_charges_total",
    help: "Charges of priced executions by outcome (charged, refunded, or the charge step's error code)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const chargedAmount = new Counter({
    name: "spell_charged_amount_total",
    help: "Money kept for successful executions, in minor units, by currency",
    labelNames: ["currency"] as const,
    registers: [registry],
  });

  // Pool gauges are read when scraped, from whatever the server composed (nothing until then).
  let wasmStats: (() => WasmPoolStats) | undefined;
  new Gauge({
    name: "spell_wasm_pool",
    help: "The wasm sandbox pool: tasks running (busy), idle processes (idle), tasks waiting (queued)",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      if (!wasmStats) return;
      const stats = wasmStats();
      this.set({ state: "busy" }, stats.busy);
      this.set({ state: "idle" }, stats.idle);
      this.set({ state: "queued" }, stats.queued);
    },
  });
  let databaseStats: (() => DatabaseStats) | undefined;
  new Gauge({
    name: "spell_db_pool_connections",
    help: "Database connections by pool (main, log) and state (open: all, idle: open and unused)",
    labelNames: ["pool", "state"] as const,
    registers: [registry],
    collect() {
      if (!databaseStats) return;
      for (const [pool, stats] of poolEntries(databaseStats())) {
        this.set({ pool, state: "open" }, stats.totalCount);
        this.set({ pool, state: "idle" }, stats.idleCount);
      }
    },
  });
  new Gauge({
    name: "spell_db_pool_waiting",
    help: "Queries waiting for a free database connection, by pool",
    labelNames: ["pool"] as const,
    registers: [registry],
    collect() {
      if (!databaseStats) return;
      for (const [pool, stats] of poolEntries(databaseStats())) this.set({ pool }, stats.waitingCount);
    },
  });

  return {
    registry,
    watchWasmPool(stats) {
      wasmStats = stats;
    },
    watchDatabasePool(stats) {
      databaseStats = stats;
    },
    observeRequest(method, route, status, seconds) {
      requestSeconds.observe({ method, route, status }, seconds);
    },
    executionSucceeded(result) {
      executions.inc({ runtime: result.spell.runtime, outcome: "succeeded" });
      if (result.billing.charged) {
        charges.inc({ outcome: "charged" });
        chargedAmount.inc({ currency: result.billing.currency }, result.billing.amount);
      }
    },
    executionFailed(error) {
      const code = isAppError(error) ? error.code : "INTERNAL_ERROR";
      // The engine does not say which runtime a failed execution would have used.
      executions.inc({ runtime: "unknown", outcome: code });
      if (CHARGE_CODES.has(code)) charges.inc({ outcome: code });
      else if (isAppError(error) && isRefund(error.details.billing)) charges.inc({ outcome: "refunded" });
    },
  };
}

function poolEntries(stats: DatabaseStats): Array<[string, DatabaseStats["main"]]> {
  return stats.log
    ? [
        ["main", stats.main],
        ["log", stats.log],
      ]
    : [["main", stats.main]];
}

function isRefund(billing: unknown): boolean {
  return (
    typeof billing === "object" && billing !== null && (billing as { refunded?: unknown }).refunded === true
  );
}

/**
 * `GET /metrics` in the Prometheus text format. With a token, only `Authorization: Bearer <token>`
 * reads it (compared in constant time): the metrics name routes, error codes and volumes.
 */
export function metricsHandler(metrics: Metrics, token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  return async (req, res) => {
    if (expected !== undefined) {
      const given = Buffer.from(req.headers.authorization ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        const reason = req.headers.authorization === undefined ? "missing_token" : "bad_signature";
        sendError(res, new AppError("UNAUTHORIZED", "The metrics need their bearer token", { reason }), {
          "WWW-Authenticate": 'Bearer realm="metrics"',
        });
        return;
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
