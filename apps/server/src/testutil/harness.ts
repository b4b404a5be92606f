import { randomUUID } from "node:crypto";
import type { AppRouter } from "@spell/api";
import type { TrustedIssuerConfig } from "@spell/auth";
import type { PublishInput } from "@spell/contracts";
import { createDatabase, createWebhookStore, type Database } from "@spell/db";
import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import type { Engine } from "@spell/engine";
import { createTRPCClient, httpLink, type TRPCClient } from "@trpc/client";
import { SignJWT } from "jose";
import { createApp } from "../app.ts";
import { type BillingComposition, composeBilling } from "../compose-billing.ts";
import { composeEngine } from "../compose-engine.ts";
import { type EnvSource, parseEnv } from "../env.ts";
import type { Logger } from "../errors.ts";
import { type RunWorker, startRunWorker } from "../run-worker.ts";
import { BUILTIN_DEMOS, seedDemoSpells } from "../server.ts";
import { type RunWebhookDeliveryOptions, startRunWebhookDelivery } from "../webhooks/start.ts";
import type { WebhookWorker } from "../webhooks/worker.ts";
import { call, type JsonResponse, type Listening, listenFirst } from "./http.ts";

/** Signs tokens for ordinary users; its tokens never make an admin, whatever their scope says. */
export const USER_ISSUER = { issuer: "https://users.test", secret: "user-issuer-secret-0123456789abcdef" };
/** Admin-capable: its tokens with `scope: spell:admin` are admins. */
export const ADMIN_ISSUER = { issuer: "https://admins.test", secret: "admin-issuer-secret-0123456789abcdef" };
export const AUDIENCE = "spell";

/** The run webhooks' signing secret of every harness unless `env` sets SPELL_WEBHOOK_SECRET. */
export const TEST_WEBHOOK_SECRET = `whsec_${Buffer.from("spell-harness-webhook-secret-32b").toString("base64")}`;

/** A third issuer in its own (default) namespace: its `alice` is not the user issuer's `alice`. */
export const OTHER_ISSUER = { issuer: "https://other.test", secret: "other-issuer-secret-0123456789abcdef" };

// The user and admin issuers share the empty namespace (user ids are the bare `sub`), as an
// operator configures two issuers that name the same people.
const ISSUERS: TrustedIssuerConfig[] = [
  { issuer: USER_ISSUER.issuer, secret: USER_ISSUER.secret, namespace: "" },
  { issuer: ADMIN_ISSUER.issuer, secret: ADMIN_ISSUER.secret, admin: true, namespace: "" },
  { issuer: OTHER_ISSUER.issuer, secret: OTHER_ISSUER.secret },
];

export interface TokenOptions {
  /** Default: the user issuer; `admin` signs with the admin-capable issuer and the admin scope. */
  admin?: boolean;
  scopes?: string[];
  issuer?: string;
  secret?: string;
  audience?: string;
  /** jose time span, e.g. "10m" or a past unix time for an expired token. */
  expiresAt?: string | number;
  notBefore?: number;
  sub?: string | null;
}

export async function signToken(sub: string, options: TokenOptions = {}): Promise<string> {
  const base = options.admin ? ADMIN_ISSUER : USER_ISSUER;
  const scopes = options.scopes ?? (options.admin ? ["spell:admin"] : []);
  const jwt = new SignJWT(scopes.length > 0 ? { scope: scopes.join(" ") } : {})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(options.issuer ?? base.issuer)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? "10m");
  if (options.sub !== null) jwt.setSubject(options.sub ?? sub);
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  return jwt.sign(new TextEncoder().encode(options.secret ?? base.secret));
}

export interface Caller {
  id: string;
  token: string;
}

export interface Instance {
  url: string;
  engine: Engine;
  database: Database;
  /** The billing composition this instance runs (SPELL_BILLING=none unless the harness got `env`). */
  billing: BillingComposition;
  /** The asynchronous executions' pg-boss worker (on a real Postgres only). */
  runWorker?: RunWorker | undefined;
  /** The run webhooks' delivery worker (on a real Postgres only). */
  webhookWorker?: WebhookWorker | undefined;
  close(): Promise<void>;
}

/** Test settings of the webhook worker: a resolver, fast retries and sweeps, a shorter timeout. */
export type HarnessWebhookOptions = Pick<RunWebhookDeliveryOptions, "lookup" | "tuning" | "timeoutMs">;

export interface Harness {
  url: string;
  billing: BillingComposition;
  testDb: TestDatabase;
  engine: Engine;
  /** The main instance's asynchronous-execution worker (on a real Postgres only). */
  runWorker: RunWorker | undefined;
  /** The main instance's webhook delivery worker (on a real Postgres only). */
  webhookWorker: WebhookWorker | undefined;
  /** A new user with a valid token (the row is created on first use, as in production). */
  user(prefix?: string): Promise<Caller>;
  /** A new admin (admin-capable issuer, `spell:admin` scope). */
  admin(): Promise<Caller>;
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<JsonResponse>;
  trpc(token?: string, headers?: Record<string, string>): TRPCClient<AppRouter>;
  /** Publishes through `POST /api/admin/spells`; throws unless it answers 200. */
  publish(input: PublishInput, admin?: Caller): Promise<JsonResponse>;
  /** Rows in `executions` for a user: what actually ran (or started to). */
  executionCount(userId: string): Promise<number>;
  /**
   * Another API instance on the same database, with its own engine and connections; `env` goes on
   * top of the harness's configuration (e.g. the same server with its allowlist removed);
   * `databaseUrl` reaches the same database another way (a proxy a test can cut).
   */
  startInstance(env?: EnvSource, options?: { databaseUrl?: string }): Promise<Instance>;
  close(): Promise<void>;
}

const quietLogger: Logger = { error: () => {} };

async function startInstance(
  database: Database,
  logger: Logger,
  envSource: EnvSource,
  wasm: boolean,
  settlementDatabaseUrl: string | undefined,
  webhookOptions: HarnessWebhookOptions = {},
): Promise<Instance & { http: Listening }> {
  const env = parseEnv({
    NODE_ENV: "test",
    SPELL_BILLING: "none",
    SPELL_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    ...envSource,
  });
  const http = await listenFirst();
  // On a real Postgres the settlement worker runs pg-boss, as in production (the embedded one: in process).
  const billing = await composeBilling(env, {
    store: database.billing,
    publicBaseUrl: http.url,
    settlementDatabaseUrl,
  });
  // Asynchronous executions run on pg-boss on a real Postgres, as in production (embedded: refused).
  const runWorker = settlementDatabaseUrl
    ? await startRunWorker({
        connectionString: settlementDatabaseUrl,
        ...(env.runs.jobExpirySeconds !== undefined ? { expireInSeconds: env.runs.jobExpirySeconds } : {}),
        ...(env.runs.maintenanceIntervalSeconds !== undefined
          ? { maintenanceIntervalSeconds: env.runs.maintenanceIntervalSeconds }
          : {}),
        onError: (error) => logger.error("run worker", error),
      })
    : undefined;
  const engine = composeEngine({
    env,
    ports: database,
    issuers: ISSUERS,
    billing: billing.billing,
    ...(runWorker ? { runQueue: runWorker } : {}),
    ...(runWorker ? { webhooks: createWebhookStore(database.prisma) } : {}),
    wasm,
    // SPELL_SIGNING_KEY in `env` turns the api runtime on (a counting upstream makes runs observable).
    ...(env.api.signingKey !== undefined ? { signingKey: env.api.signingKey } : {}),
  });
  const runQueued = engine.executions?.runQueued;
  if (runWorker && runQueued) await runWorker.work(runQueued);
  const webhookWorker =
    settlementDatabaseUrl && env.webhooks.secret !== undefined
      ? await startRunWebhookDelivery({
          env,
          connectionString: settlementDatabaseUrl,
          database,
          engine,
          secret: env.webhooks.secret,
          ...webhookOptions,
          onError: (error) => logger.error("webhook worker", error),
        })
      : undefined;
  http.serve(
    createApp({
      engine,
      ping: () => database.ping(),
      logger,
      ...(billing.extraRoutes ? { extraRoutes: billing.extraRoutes } : {}),
      ...(billing.openApiPaths ? { openApiPaths: billing.openApiPaths } : {}),
    }),
  );
  return {
    url: http.url,
    engine,
    database,
    billing,
    http,
    runWorker,
    webhookWorker,
    close: async () => {
      await http.close();
      await runWorker?.stop();
      await webhookWorker?.stop();
      await engine.close();
      await billing.close?.();
    },
  };
}

export interface HarnessOptions {
  logger?: Logger;
  /**
   * Configuration on top of `NODE_ENV=test SPELL_BILLING=none`, read by the real `parseEnv` and
   * `composeBilling`: e.g. `{ SPELL_BILLING: "stripe", STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET }`.
   */
  env?: EnvSource;
  /** Turns the wasm runtime on (off by default: its worker threads are not free on a small machine). */
  wasm?: boolean;
  /** The webhook worker's test settings (receivers' DNS, retry delays). */
  webhooks?: HarnessWebhookOptions;
}

/**
 * A real API over HTTP on 127.0.0.1: a fresh database (on DATABASE_URL's server, else embedded),
 * two HS256 test issuers, the demo spells, and helpers that create users, tokens and spells.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const testDb = await createTestDatabase({ url: process.env.DATABASE_URL });
  const logger = options.logger ?? quietLogger;
  const envSource = options.env ?? {};
  const wasm = options.wasm ?? false;
  const settlementUrl = process.env.DATABASE_URL ? testDb.url : undefined;
  const main = await startInstance(testDb.database, logger, envSource, wasm, settlementUrl, options.webhooks);
  await seedDemoSpells(main.engine, testDb.database, [...BUILTIN_DEMOS, ...(main.billing.demoSpells ?? [])]);
  const extra: Array<() => Promise<void>> = [];
  let adminCaller: Caller | undefined;

  const harness: Harness = {
    url: main.url,
    billing: main.billing,
    testDb,
    engine: main.engine,
    runWorker: main.runWorker,
    webhookWorker: main.webhookWorker,
    async user(prefix = "user") {
      const id = `${prefix}-${randomUUID()}`;
      return { id, token: await signToken(id) };
    },
    async admin() {
      const id = `admin-${randomUUID()}`;
      return { id, token: await signToken(id, { admin: true }) };
    },
    call: (method, path, callOptions) => call(main.url, method, path, callOptions),
    trpc: (token, headers = {}) =>
      createTRPCClient<AppRouter>({
        links: [
          httpLink({
            url: `${main.url}/trpc`,
            headers: { ...headers, ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
          }),
        ],
      }),
    async publish(input, admin) {
      adminCaller ??= await harness.admin();
      const response = await harness.call("POST", "/api/admin/spells", {
        token: (admin ?? adminCaller).token,
        body: input,
      });
      if (response.status !== 200) {
        throw new Error(
          `publish ${input.slug} answered ${response.status}: ${JSON.stringify(response.body)}`,
        );
      }
      return response;
    },
    executionCount: (userId) => testDb.database.prisma.execution.count({ where: { userId } }),
    async startInstance(env = {}, instanceOptions = {}) {
      const url = instanceOptions.databaseUrl ?? testDb.url;
      const database = createDatabase({ url, poolSize: 2 });
      const instance = await startInstance(
        database,
        logger,
        { ...envSource, ...env },
        wasm,
        settlementUrl === undefined ? undefined : url,
        options.webhooks,
      );
      const close = async () => {
        await instance.close();
        await database.close();
      };
      extra.push(close);
      return { ...instance, close };
    },
    async close() {
      for (const close of extra) await close().catch(() => {});
      await main.close();
      await testDb.drop();
    },
  };
  return harness;
}
