import { AppError } from "@spell/contracts";
import type { Engine } from "@spell/engine";
import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express, { type Express, type Request } from "express";
import { DEFAULT_BODY_LIMIT } from "./env.ts";
import { appErrorFromTRPC, consoleLogger, type Logger, logIfServerError } from "./errors.ts";
import { errorHandler, notFoundHandler, requireJsonBody, restRouteGuard, sendError } from "./http/guards.ts";
import { preventInputCoercion } from "./http/no-coercion.ts";
import { createOpenApiDocument } from "./http/openapi.ts";
import { createRestHandler } from "./http/rest.ts";
import { appRouter } from "./routers/index.ts";
import type { Context } from "./trpc.ts";

preventInputCoercion(appRouter);

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
  extraRoutes?: (app: Express) => void;
}

/** Every procedure's REST route, read from the router's metadata (which the contracts supply). */
function restRoutes(): Array<{ method: string; path: string }> {
  return Object.values(appRouter._def.procedures).flatMap((procedure) => {
    const openapi = (procedure as { _def: { meta?: { openapi?: { method: string; path: string } } } })._def
      .meta?.openapi;
    return openapi ? [{ method: openapi.method, path: openapi.path }] : [];
  });
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
  const openApiJson = JSON.stringify(
    createOpenApiDocument(appRouter, { baseUrl: `${options.publicUrl?.replace(/\/+$/, "") ?? ""}/api` }),
  );

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

  options.extraRoutes?.(app);

  app.use(
    "/trpc",
    requireJsonBody("trpc"),
    createExpressMiddleware({
      router: appRouter,
      maxBodySize,
      createContext: ({ req }) => createContext(req),
      onError: ({ error, path }) => logIfServerError(logger, appErrorFromTRPC(error), `tRPC ${path ?? "?"}`),
    }),
  );
  app.use(
    "/api",
    restRouteGuard([...restRoutes(), { method: "GET", path: "/openapi.json" }]),
    requireJsonBody("rest"),
    createRestHandler({ router: appRouter, createContext, maxBodySize, logger }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
