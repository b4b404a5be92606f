import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { ExpressInstrumentation, ExpressLayerType } from "@opentelemetry/instrumentation-express";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { NodeSDK } from "@opentelemetry/sdk-node";

/**
 * OpenTelemetry traces, loaded by `main.ts` only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and
 * before any server module: the instrumentations patch `http` (a span per request, incoming W3C
 * `traceparent` honoured; Stripe's outgoing calls), Express (route spans), `pg` (query spans) and
 * undici (the api runtime's `fetch` to upstreams, which then carry `traceparent`). Everything else
 * is the SDK's standard `OTEL_*` configuration (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
 * `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`, …). Only traces are exported: no OTLP metrics or
 * logs (Prometheus and pino cover those).
 */
export interface Tracing {
  /** Flushes the spans still buffered, then stops exporting. */
  shutdown(): Promise<void>;
}

export function startTracing(): Tracing {
  registerEsmHook();
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? "spell-api",
    traceExporter: new OTLPTraceExporter(),
    // Explicitly none: otherwise the SDK would start OTLP log export from its defaults.
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes are not worth a trace each.
        ignoreIncomingRequestHook: (req) => IGNORED_PATHS.has(req.url ?? ""),
      }),
      // Route handlers only: a span per middleware would be most of every trace.
      new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
      // Queries of a request only: not the migrations and pool chatter at start.
      new PgInstrumentation({ requireParentSpan: true }),
      new UndiciInstrumentation(),
    ],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

const IGNORED_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * The server is ESM: `import pg from "pg"` and `import express from "express"` do not go through
 * `require`, so the instrumentations only see them through import-in-the-middle's loader hook,
 * registered here before those modules load. It is resolved from the SDK's own dependency tree.
 */
function registerEsmHook(): void {
  const fromSdk = createRequire(createRequire(import.meta.url).resolve("@opentelemetry/sdk-node"));
  const fromInstrumentation = createRequire(fromSdk.resolve("@opentelemetry/instrumentation"));
  const hook = fromInstrumentation.resolve("import-in-the-middle/hook.mjs");
  register(pathToFileURL(hook).href, import.meta.url);
}
