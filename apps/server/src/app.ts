import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { appErrorFromTRPC, appRouter, type Context, createOpenApiDocument } from "@spell/api";
import { AppError } from "@spell/contracts";
import type { Engine } from "@spell/engine";
import type { TRPCError } from "@trpc/server";
import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express, { type Express } from "express";
import proxyaddr from "proxy-addr";
import { mountDocs } from "./docs/docs.ts";
import { DEFAULT_BODY_LIMIT, type TrustProxy } from "./env.ts";
import { errorSinkOf, type Logger, logIfServerError } from "./errors.ts";
import type { BillingRouteContext } from "./http/billing.ts";
import { createFrontDoor } from "./http/front-door.ts";
import { errorHandler, notFoundHandler, requireJsonBody, sendError } from "./http/guards.ts";
import { EXECUTE_RESPONSES } from "./http/rate-limit.ts";
import { createRestAnswer, createRestHandlers, restRoutes } from "./http/rest.ts";
import { createLeanTrpcHandler } from "./http/trpc-lean.ts";
import { type McpOptions, mountMcp } from "./mcp/http.ts";
import {
  accessLog,
  createAccessLog,
  type ResponseLocals,
  requestFactsOf,
  routeLabels,
} from "./observability/access-log.ts";
import { createLogger, type PinoLogger } from "./observability/logger.ts";
import { type Metrics, metricsHandler } from "./observability/metrics.ts";
import { observeEngine } from "./observability/observed-engine.ts";
import {
  REQUEST_ID_HEADER,
  requestIdFrom,
  requestIdMiddleware,
  requestIdOf,
} from "./observability/request-id.ts";

export interface AppOptions {
  engine: Engine;
  /** Resolves when the database answers; rejects otherwise (drives `/readyz`). */
  ping: () => Promise<unknown>;
  /** Largest accepted request body in bytes, on `/trpc` and `/api` (default 1 MiB). */
  maxBodySize?: number;
  /** Where clients reach this server; the OpenAPI document's server URL is `<publicUrl>/api`. */
  publicUrl?: string;
  /** The structured logger: one access line per request, server errors with their request id. */
  log?: PinoLogger;
  /**
   * Where server errors go instead of `log` (tests capture them here). Given alone, no access
   * lines are written.
   */
  logger?: Logger;
  /** Request, execution and charge metrics are recorded here when set. */
  metrics?: Metrics;
  /**
   * Serve `GET /metrics` on this app (not when a separate metrics port serves it); with a token,
   * only `Authorization: Bearer <token>` reads it.
   */
  metricsEndpoint?: { token: string | undefined };
  /** Express's `trust proxy`: which proxies' `X-Forwarded-*` headers to believe (default none). */
  trustProxy?: TrustProxy;
  /**
   * Routes mounted before `/api` and `/trpc`, with their own body handling: the billing webhook
   * (`POST /api/billing/webhook`, raw body for the signature) and local test-provider pages.
   */
  extraRoutes?: (app: Express, context: BillingRouteContext) => void;
  /** `/mcp`: the issuers named in its Protected Resource Metadata, the browser origins it admits. */
  mcp?: McpOptions;
  /** OpenAPI path items (relative to `/api`) of routes mounted by `extraRoutes`. */
  openApiPaths?: Record<string, unknown>;
}

export function createApp(options: AppOptions): RequestListener {
  const { engine, metrics } = options;
  // Without a logger of its own an app still reports its failures, and stays quiet otherwise.
  const log = options.log ?? createLogger({ level: options.logger ? "silent" : "warn" });
  const logger = options.logger ?? errorSinkOf(log);
  const maxBodySize = options.maxBodySize ?? DEFAULT_BODY_LIMIT;
  const observed = observeEngine(engine, metrics);

  const createContext = (req: IncomingMessage, res: ServerResponse): Context => {
    const facts = requestFactsOf(res);
    return {
      engine: facts ? observed(facts) : engine,
      authorization: req.headers.authorization,
      idempotencyKey: headerValue(req.headers["idempotency-key"]),
      prefer: headerValue(req.headers.prefer),
      cancelAfter: headerValue(req.headers["cancel-after"]),
      requestId: requestIdOf(res),
      notes: facts,
    };
  };

  // Built once: the document is served from this string on every request.
  const openApiDocument = createOpenApiDocument(appRouter, {
    baseUrl: `${options.publicUrl?.replace(/\/+$/, "") ?? ""}/api`,
  });
  if (options.openApiPaths) {
    openApiDocument.paths = {
      ...openApiDocument.paths,
      ...(options.openApiPaths as typeof openApiDocument.paths),
    };
  }
  const openApiJson = JSON.stringify(openApiDocument);

  const restPaths = [...restRoutes(appRouter).keys()].map((key) => `/api${key.slice(key.indexOf(" ") + 1)}`);
  const routeOf = routeLabels([
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/openapi.json",
    ...restPaths,
    ...Object.keys(options.openApiPaths ?? {}).map((path) => `/api${path}`),
    ...Object.keys(appRouter._def.procedures).map((procedure) => `/trpc/${procedure}`),
  ]);

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("trust proxy", options.trustProxy ?? false);
  const startAccess = createAccessLog({
    log: log.isLevelEnabled("info") ? log : undefined,
    metrics,
    routeOf,
  });
  app.use(requestIdMiddleware);
  app.use(accessLog(startAccess));

  if (metrics && options.metricsEndpoint) {
    app.get("/metrics", metricsHandler(metrics, options.metricsEndpoint.token));
  }

  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await options.ping();
      res.json({ ok: true });
    } catch (error) {
      const appError = new AppError(
        "SERVICE_UNAVAILABLE",
        "The database is not reachable",
        {},
        { cause: error },
      );
      logIfServerError(logger, appError, "GET /readyz", { requestId: requestIdOf(res) });
      sendError(res, appError);
    }
  });
  app.get("/api/openapi.json", (_req, res) => {
    res.type("application/json").send(openApiJson);
  });

  // Issue 9: MCP (+ its Protected Resource Metadata) and the interactive API reference.
  mountMcp(app, { ...options.mcp, engine, publicUrl: options.publicUrl, maxBodySize, logger });
  mountDocs(app, { engine, publicUrl: options.publicUrl });

  options.extraRoutes?.(app, { engine, bodyLimit: maxBodySize });

  const onTrpcError = ({
    error,
    path,
    res,
  }: {
    error: TRPCError;
    path: string | undefined;
    res: ServerResponse;
  }) =>
    logIfServerError(logger, appErrorFromTRPC(error), `tRPC ${path ?? "?"}`, { requestId: requestIdOf(res) });
  // httpLink's calls (the SDK's and the CLI's) without the adapter's per-call Fetch machinery;
  // anything else it passes on to tRPC's adapter below (see trpc-lean.ts).
  const leanTrpc = createLeanTrpcHandler({
    router: appRouter,
    createContext,
    maxBodySize,
    onError: onTrpcError,
  });
  app.use(
    "/trpc",
    requireJsonBody("trpc"),
    leanTrpc,
    createExpressMiddleware({
      router: appRouter,
      // One HTTP request, one procedure: a batch would let one request run (and charge) a thousand
      // executions. The SDK uses httpLink, which never batches.
      allowBatching: false,
      maxBodySize,
      createContext: ({ req, res }) => createContext(req, res),
      onError: ({ error, path, req }) => onTrpcError({ error, path, res: req.res as ServerResponse }),
    }),
  );
  const restOptions = { router: appRouter, createContext, maxBodySize, logger };
  app.use(
    "/api",
    createRestHandlers({ ...restOptions, alsoServed: [{ method: "GET", path: "/openapi.json" }] }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(logger));

  const executeRoute = restRoutes(appRouter).get("POST /spell/execute");
  if (!executeRoute) throw new Error("the router has no POST /spell/execute route");
  const trustProxy = app.get("trust proxy fn") as Parameters<typeof proxyaddr>[1];
  const frontDoor = createFrontDoor({
    maxBodySize,
    begin: (req, res) => {
      const requestId = requestIdFrom(req.headers["x-request-id"]);
      res.setHeader(REQUEST_ID_HEADER, requestId);
      const locals: ResponseLocals = { requestId, facts: {} };
      (res as unknown as { locals: ResponseLocals }).locals = locals;
      startAccess(req, res, locals, () => proxyaddr(req, trustProxy));
      return locals;
    },
    restRoute: executeRoute,
    answerRest: createRestAnswer(restOptions),
    createContext,
    trpc: leanTrpc,
    decorate: () => app.locals[EXECUTE_RESPONSES],
    onUnexpected: (error, res) =>
      logIfServerError(
        logger,
        new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: error }),
        "front door",
        { requestId: requestIdOf(res) },
      ),
  });
  return (req, res) => {
    if (!frontDoor(req, res)) app(req, res);
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
