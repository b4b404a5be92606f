import { appErrorFromTRPC, appRouter, type Context, createOpenApiDocument } from "@spell/api";
import { AppError } from "@spell/contracts";
import type { Engine } from "@spell/engine";
import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express, { type Express, type Request } from "express";
import { DEFAULT_BODY_LIMIT } from "./env.ts";
import { consoleLogger, type Logger, logIfServerError } from "./errors.ts";
import type { BillingRouteContext } from "./http/billing.ts";
import { errorHandler, notFoundHandler, requireJsonBody, sendError } from "./http/guards.ts";
import { createRestHandlers } from "./http/rest.ts";

export interface AppOptions {
  engine: Engine;
  /** Resolves when the database answers; rejects otherwise (drives `/readyz`). */
  ping: () => Promise<unknown>;
  /** Largest accepted request body in bytes, on `/trpc` and `/api` (default 1 MiB). */
  maxBodySize?: number;
  /** Where clients reach this server; the OpenAPI document's server URL is `<publicUrl>/api`. */
  publicUrl?: string;
  logger?: Logger;
  /**
   * Routes mounted before `/api` and `/trpc`, with their own body handling: the billing webhook
   * (`POST /api/billing/webhook`, raw body for the signature) and local test-provider pages.
   */
  extraRoutes?: (app: Express, context: BillingRouteContext) => void;
  /** OpenAPI path items (relative to `/api`) of routes mounted by `extraRoutes`. */
  openApiPaths?: Record<string, unknown>;
}

export function createApp(options: AppOptions): Express {
  const { engine } = options;
  const logger = options.logger ?? consoleLogger;
  const maxBodySize = options.maxBodySize ?? DEFAULT_BODY_LIMIT;

  const createContext = (req: Request): Context => ({
    engine,
    authorization: req.headers.authorization,
    idempotencyKey: headerValue(req.headers["idempotency-key"]),
  });

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

  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

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
      logIfServerError(logger, appError, "GET /readyz");
      sendError(res, appError);
    }
  });
  app.get("/api/openapi.json", (_req, res) => {
    res.type("application/json").send(openApiJson);
  });

  options.extraRoutes?.(app, { engine, bodyLimit: maxBodySize });

  app.use(
    "/trpc",
    requireJsonBody("trpc"),
    createExpressMiddleware({
      router: appRouter,
      // One HTTP request, one procedure: a batch would let one request run (and charge) a thousand
      // executions. The SDK uses httpLink, which never batches.
      allowBatching: false,
      maxBodySize,
      createContext: ({ req }) => createContext(req),
      onError: ({ error, path }) => logIfServerError(logger, appErrorFromTRPC(error), `tRPC ${path ?? "?"}`),
    }),
  );
  app.use(
    "/api",
    createRestHandlers({
      router: appRouter,
      createContext,
      maxBodySize,
      logger,
      alsoServed: [{ method: "GET", path: "/openapi.json" }],
    }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
