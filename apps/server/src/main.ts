// Only types are imported statically: with tracing on, the OpenTelemetry SDK must patch `http`,
// Express and `pg` before any server module loads them, so everything else is imported below, after it.
import type { Env } from "./env.ts";
import type { PinoLogger } from "./observability/logger.ts";
import type { Tracing } from "./observability/tracing.ts";
import type { RunningServer } from "./server.ts";

const EX_UNAVAILABLE = 69;
const EX_CONFIG = 78;

async function main(): Promise<void> {
  // The SDK's own variable decides, read before anything else loads; off, the SDK is never imported.
  const tracing: Tracing | undefined = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    ? (await import("./observability/tracing.ts")).startTracing()
    : undefined;
  const { configureJsonBounds } = await import("@spell/contracts");
  const { EnvError, parseEnv } = await import("./env.ts");
  const { createLogger, logDestination } = await import("./observability/logger.ts");
  const { DatabaseUnavailableError } = await import("./observability/start-retry.ts");
  const { startServer } = await import("./server.ts");

  let env: Env;
  try {
    env = parseEnv();
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    // No logger yet: its settings are part of what failed to parse.
    process.stderr.write(`${error.message}\n`);
    process.exit(EX_CONFIG);
  }
  const log = createLogger({ level: env.log.level, destination: await logDestination(env.log.format) });
  configureJsonBounds({ maxDepth: env.jsonMaxDepth });

  let server: RunningServer;
  try {
    server = await startServer(env, { log });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) {
      log.fatal(error.message);
      process.exit(EX_UNAVAILABLE);
    }
    log.fatal({ err: error }, "Spell API failed to start");
    process.exit(1);
  }

  log.info({ url: server.url, billing: server.billingMode, nodeEnv: env.nodeEnv }, "listening");
  // The quick start's banner is for a person at a terminal; production output stays JSON lines.
  if (!env.production) process.stdout.write(await banner(server));

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: env.shutdownGraceMs }, "shutting down");
    server.close().then(
      async () => {
        // Spans still buffered are sent before the process ends (bounded by the exporter's timeout).
        await tracing?.shutdown().catch((error: unknown) => log.warn({ err: error }, "trace flush failed"));
        log.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  watchForCrashes(log);
}

function watchForCrashes(log: PinoLogger): void {
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled rejection"));
}

async function banner(server: RunningServer): Promise<string> {
  const lines = [
    `Spell API listening on ${server.url}`,
    `  REST ${server.url}/api   tRPC ${server.url}/trpc   OpenAPI ${server.url}/api/openapi.json`,
  ];
  if (server.devIssuer) {
    const token = await server.devIssuer.mintToken({ sub: "alice" });
    lines.push(
      "",
      "Try it (development issuer, trusted outside production only):",
      `  pnpm spell login --dev && pnpm spell exec echo@v1 --input '{"hello":"world"}'`,
      `  pnpm spell exec wordcount@v1 --input '{"text":"the cat and the hat"}'   # a wasm spell`,
      "  pnpm spell exec resize@v1 --input '{\"width\":64}' --file image=./photo.png --out image=./small.png",
      "  pnpm spell ls",
      `  curl -s ${server.url}/api/spell/execute -H 'Authorization: Bearer ${token}' ` +
        `-H 'Content-Type: application/json' -d '{"spell":"echo@v1","input":{"hello":"world"}}'`,
    );
  }
  if (server.billingMode === "local") {
    lines.push(
      "",
      "Billing: LOCAL TEST payment provider (no real money, no real cards; never in production).",
      "  Priced demo (echo-paid@v1, USD 0.50):",
      `  pnpm spell billing test-card pm_card_visa && pnpm spell exec echo-paid@v1 --input '{"hi":1}'`,
    );
  } else if (server.billingMode === "stripe") {
    lines.push("", `Billing: Stripe (webhook at ${server.url}/api/billing/webhook)`);
  } else {
    lines.push("", "Billing: not configured (priced spells answer BILLING_NOT_CONFIGURED)");
  }
  return `${lines.join("\n")}\n`;
}

main().catch((error: unknown) => {
  process.stderr.write(
    `Spell API failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
