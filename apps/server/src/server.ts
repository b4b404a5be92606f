import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TrustedIssuerConfig } from "@spell/auth";
import { type DevIssuer, loadOrCreateDevIssuer } from "@spell/auth/dev";
import { AppError, type PublishInput, ZPublishInput } from "@spell/contracts";
import {
  createDatabase,
  createWebhookStore,
  type Database,
  migrateDatabase,
  startEmbeddedPostgres,
} from "@spell/db";
import type { Engine } from "@spell/engine";
import { WASM_DEMOS } from "@spell/runtime-wasm";
import { createApp } from "./app.ts";
import { composeBilling } from "./compose-billing.ts";
import { composeEngine } from "./compose-engine.ts";
import type { BillingMode, Env } from "./env.ts";
import { errorSinkOf, type Logger } from "./errors.ts";
import { HTTP_SERVER_OPTIONS, hardenHttpServer } from "./http/limits.ts";
import { createLogger, logDestination, type PinoLogger } from "./observability/logger.ts";
import { createMetrics } from "./observability/metrics.ts";
import { startMetricsServer } from "./observability/metrics-server.ts";
import {
  connectErrorCode,
  DatabaseUnavailableError,
  describeDatabase,
  isTransientConnectError,
  retryWithBackoff,
} from "./observability/start-retry.ts";
import { startRunWorker } from "./run-worker.ts";
import { startRunWebhookDelivery } from "./webhooks/start.ts";

/** The owner of the demo spells; never a caller (no token carries this `sub` unless minted so). */
export const SYSTEM_USER_ID = "spell-system";

export const BUILTIN_DEMOS: PublishInput[] = [
  {
    slug: "echo@v1",
    runtime: "builtin",
    artifact: { builtin: "echo" },
    visibility: "public",
    priceAmount: 0,
    metadata: { description: "Returns its input unchanged" },
  },
  {
    slug: "resize@v1",
    runtime: "builtin",
    artifact: { builtin: "resize" },
    visibility: "public",
    priceAmount: 0,
    metadata: { description: "Resizes a base64 PNG, JPEG or WebP image" },
  },
];

export interface RunningServer {
  /** `http://host:port` of the listening server. */
  url: string;
  port: number;
  engine: Engine;
  database: Database;
  /** Set outside production: mints tokens the server trusts (quick start, tests). */
  devIssuer: DevIssuer | undefined;
  /** Which payment adapter runs: Stripe, the LOCAL TEST provider, or none. */
  billingMode: BillingMode;
  /** Stops accepting, then closes the engine, the database and the embedded Postgres, once. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** The structured logger (access lines, errors); default: JSON lines on stdout at `env.log.level`. */
  log?: PinoLogger;
  /** Receives server errors instead of `log` (tests capture them). */
  logger?: Logger;
  /** Off where wasm is not needed (its worker threads are not free on a small machine). */
  wasm?: boolean;
  /** Off: no pg-boss run worker in this process (asynchronous executions answer 503 async_unavailable). */
  runWorker?: boolean;
}

/**
 * Everything `pnpm start` does after reading the environment: database (embedded when no URL),
 * migrations, engine, demo spells, dev issuer outside production, and the listening server.
 */
export async function startServer(env: Env, options: StartOptions = {}): Promise<RunningServer> {
  // Asynchronous stdout, as `main` uses: a synchronous write per access line was a tenth of a request.
  const log =
    options.log ?? createLogger({ level: env.log.level, destination: await logDestination(env.log.format) });
  const logger = options.logger ?? errorSinkOf(log);
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch((error) => logger.error("shutdown", error));
  };

  try {
    let databaseUrl = env.databaseUrl;
    if (databaseUrl === undefined) {
      const embedded = await startEmbeddedPostgres({ dataDir: join(env.dataDir, "db") });
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    await migrateWhenReachable(databaseUrl, env.databaseStartRetries, log);
    const database = createDatabase({ url: databaseUrl });
    cleanups.push(() => database.close());

    const devIssuer = env.trustDevIssuer ? await loadOrCreateDevIssuer(env.dataDir) : undefined;
    const issuers: TrustedIssuerConfig[] = [...env.trustedIssuers, ...(devIssuer ? [devIssuer.config] : [])];

    // Listening comes first so the local test provider knows the URL it serves its checkout page
    // under (PORT=0 picks one); until the app is ready every request answers 503.
    let app: RequestListener | undefined;
    const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
      if (app) return app(req, res);
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
      res.end(JSON.stringify(new AppError("SERVICE_UNAVAILABLE", "The server is starting", {}).toBody()));
    });
    hardenHttpServer(server, env.http);
    server.listen(env.port, env.host);
    await once(server, "listening");
    cleanups.push(() => closeServer(server, 0));
    const { port } = server.address() as AddressInfo;
    const host = env.host.includes(":") ? `[${env.host}]` : env.host;
    const url = `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`;

    const billing = await composeBilling(env, {
      store: database.billing,
      publicBaseUrl: env.publicUrl ?? url,
      // pg-boss on a real Postgres; the embedded one gets the in-process fallback (same rows).
      settlementDatabaseUrl: env.databaseUrl,
      onSettlementError: (error) => logger.error("settlement", error),
    });
    if (billing.close) cleanups.push(billing.close);
    // Asynchronous executions (issue 13): pg-boss on a PostgreSQL server; the embedded database has
    // no job engine, so `Prefer` is refused there (503 async_unavailable).
    const runWorker =
      env.databaseUrl === undefined || options.runWorker === false
        ? undefined
        : await startRunWorker({
            connectionString: env.databaseUrl,
            ...(env.runs.jobExpirySeconds !== undefined
              ? { expireInSeconds: env.runs.jobExpirySeconds }
              : {}),
            ...(env.runs.maintenanceIntervalSeconds !== undefined
              ? { maintenanceIntervalSeconds: env.runs.maintenanceIntervalSeconds }
              : {}),
            onError: (error) => logger.error("run worker", error),
          });
    // Run webhooks need the job engine and a signing secret: the environment's, or outside
    // production one generated under dataDir; in production without one, webhooks are refused.
    const webhookSecret =
      runWorker === undefined
        ? undefined
        : (env.webhooks.secret ?? (env.production ? undefined : await devWebhookSecret(env.dataDir)));
    if (runWorker && webhookSecret === undefined) {
      log.warn("SPELL_WEBHOOK_SECRET is not set: executions with a webhook are refused");
    }
    const metrics = createMetrics();
    metrics.watchDatabasePool(() => database.stats());
    const engine = composeEngine({
      env,
      ports: database,
      metrics,
      issuers,
      billing: billing.billing,
      ...(runWorker ? { runQueue: runWorker } : {}),
      ...(webhookSecret !== undefined ? { webhooks: createWebhookStore(database.prisma) } : {}),
      ...(options.wasm === false ? { wasm: false } : {}),
      signingKey: env.api.signingKey ?? (await devSigningKey(env.dataDir)),
    });
    cleanups.push(() => engine.close());
    if (runWorker) {
      // Stopped before the engine closes (cleanups run in reverse): running jobs finish first.
      cleanups.push(() => runWorker.stop());
      const runQueued = engine.executions?.runQueued;
      if (runQueued) await runWorker.work(runQueued);
    }
    if (env.databaseUrl !== undefined && webhookSecret !== undefined) {
      const webhooks = await startRunWebhookDelivery({
        env,
        connectionString: env.databaseUrl,
        database,
        engine,
        secret: webhookSecret,
        onError: (error) => logger.error("webhook worker", error),
      });
      // Stopped before the engine and the database close, like the run worker.
      cleanups.push(() => webhooks.stop());
    }

    if (env.seedDemos)
      await seedDemoSpells(engine, database, [
        ...BUILTIN_DEMOS,
        ...(options.wasm === false ? [] : await wasmDemos()),
        ...(billing.demoSpells ?? []),
      ]);

    if (env.metrics.port !== undefined) {
      const metricsServer = await startMetricsServer(metrics, env.metrics, env.metrics.port);
      cleanups.push(() => metricsServer.close());
      log.info({ url: metricsServer.url }, "metrics served on a separate port");
    }

    app = createApp({
      engine,
      ping: () => database.ping(),
      maxBodySize: env.bodyLimit,
      log,
      logger,
      metrics,
      trustProxy: env.trustProxy,
      // MCP clients discover where to get a token from the issuers this server trusts.
      mcp: { authorizationServers: issuers.map((issuer) => issuer.issuer) },
      ...(env.metrics.onApiPort ? { metricsEndpoint: { token: env.metrics.token } } : {}),
      ...(env.publicUrl !== undefined ? { publicUrl: env.publicUrl } : {}),
      ...(billing.extraRoutes ? { extraRoutes: billing.extraRoutes } : {}),
      ...(billing.openApiPaths ? { openApiPaths: billing.openApiPaths } : {}),
    });

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      engine,
      database,
      devIssuer,
      billingMode: billing.mode,
      // The server stops accepting and drains in-flight requests (and the runs they wait on) first;
      // only then are the engine, billing and the database closed.
      close: () => {
        closing ??= closeServer(server, env.shutdownGraceMs).then(cleanup);
        return closing;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * Stops accepting and waits for in-flight requests to finish, at most `graceMs`; connections still
 * open then are cut. Idle keep-alive sockets are closed at once (they would hold close() open).
 */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    deadline.unref();
    server.close((error) => {
      clearTimeout(deadline);
      if (error && (error as NodeJS.ErrnoException).code !== "ERR_SERVER_NOT_RUNNING") reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Publishes each demo spell that does not exist yet, so a restart never replaces an artifact an
 * admin has republished since.
 */
export async function seedDemoSpells(
  engine: Engine,
  database: Database,
  demos: PublishInput[],
): Promise<void> {
  const user = await database.users.ensureUser(SYSTEM_USER_ID);
  // No token: the server itself is the publisher, an admin whose "issuer" is the server.
  const caller = {
    userId: SYSTEM_USER_ID,
    subject: SYSTEM_USER_ID,
    issuer: SYSTEM_USER_ID,
    isAdmin: true,
    scopes: ["spell:admin"],
  };
  const session = { caller, user };
  for (const demo of demos) {
    if ((await database.spells.findBySlug(demo.slug, SYSTEM_USER_ID)) !== null) continue;
    await engine.publish(session, ZPublishInput.parse(demo));
  }
}

async function wasmDemos(): Promise<PublishInput[]> {
  return Promise.all(
    WASM_DEMOS.map(async (demo) => ({
      slug: demo.slug,
      runtime: "wasm" as const,
      artifact: { wasmBase64: (await readFile(demo.file)).toString("base64") },
      visibility: "public" as const,
      priceAmount: 0,
      metadata: { description: demo.description, inputSchema: demo.inputSchema },
    })),
  );
}

/**
 * Outside production an unset SPELL_SIGNING_KEY is replaced by a random key kept beside the dev
 * issuer, so api spells work in the quick start and their secrets survive restarts.
 */
async function devSigningKey(dataDir: string): Promise<string> {
  const path = join(dataDir, "signing-key");
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32).toString("hex");
  try {
    await writeFile(path, `${key}\n`, { mode: 0o600, flag: "wx" });
    return key;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return (await readFile(path, "utf8")).trim();
    throw error;
  }
}

/**
 * Outside production an unset SPELL_WEBHOOK_SECRET is replaced by a Standard Webhooks secret kept
 * beside the dev issuer (`whsec_` + base64 of 32 random bytes), so receivers can keep verifying
 * across restarts; `cat .spell/webhook-secret` shows it.
 */
async function devWebhookSecret(dataDir: string): Promise<string> {
  const path = join(dataDir, "webhook-secret");
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  try {
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return (await readFile(path, "utf8")).trim();
    throw error;
  }
}

/**
 * Migrations are the first contact with the database: while it is not reachable yet (a container
 * starting beside it), wait with backoff; then fail with one line instead of a driver's stack.
 */
async function migrateWhenReachable(url: string, retries: number, log: PinoLogger): Promise<void> {
  try {
    await retryWithBackoff(() => migrateDatabase(url), {
      retries,
      onRetry: (attempt, delayMs, error) =>
        log.warn(
          { attempt, retries, delayMs, reason: connectErrorCode(error) },
          `database ${describeDatabase(url)} not reachable, retrying`,
        ),
    });
  } catch (error) {
    if (!isTransientConnectError(error)) throw error;
    const code = connectErrorCode(error);
    throw new DatabaseUnavailableError(
      `database ${describeDatabase(url)} not reachable (${code}) after ${retries + 1} attempt(s)`,
      { cause: error },
    );
  }
}
