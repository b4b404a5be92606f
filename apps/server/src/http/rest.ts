import { appErrorFromTRPC, type Context } from "@spell/api";
import { AppError, isExecuteAccepted } from "@spell/contracts";
import {
  type AnyRouter,
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  type TRPCProcedureType,
} from "@trpc/server";
import express, { type Request, type RequestHandler } from "express";
import type { OpenApiMeta } from "trpc-to-openapi";
import { type Logger, logIfServerError } from "../errors.ts";
import { requestIdOf } from "../observability/request-id.ts";
import { notFound, requireJsonBody, sendError } from "./guards.ts";

interface RestRoute {
  /** The procedure's dotted path in the router, e.g. `spell.execute`. */
  procedure: string;
  type: TRPCProcedureType;
}

/** `method path` → procedure, from each procedure's OpenAPI metadata (the contracts' routes). */
export function restRoutes(router: AnyRouter): Map<string, RestRoute> {
  const routes = new Map<string, RestRoute>();
  for (const [procedure, definition] of Object.entries(router._def.procedures)) {
    const def = (definition as { _def: { meta?: OpenApiMeta; type: TRPCProcedureType } })._def;
    const openapi = def.meta?.openapi;
    if (openapi === undefined || openapi.enabled === false) continue;
    routes.set(`${openapi.method} ${openapi.path}`, { procedure, type: def.type });
  }
  return routes;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * The REST face of the router under `/api`. Each request runs the very procedure `/trpc` runs (same
 * middlewares, input and output schemas) through tRPC's `callProcedure`; trpc-to-openapi only
 * generates the document. Its request handler was measured at a third of the execute path's
 * throughput (a Fetch `Request` built per call, schema coercion walks, a caller proxy) and it
 * needed three work-arounds (error body, charset, coercion of shared schemas).
 *
 * Order: unknown path → 404, known path with another method → 405, non-JSON POST → 415, body over
 * the limit → 413, bad JSON → 400 MALFORMED_JSON (both through the app's error handler), then the
 * procedure. Every error is `{"ok": false, "error": …}` with the code's status.
 */
export function createRestHandlers(options: {
  router: AnyRouter;
  createContext: (req: Request) => Context;
  maxBodySize: number;
  logger: Logger;
  /** Extra `METHOD /path` pairs served elsewhere (e.g. `GET /openapi.json`), for 405 answers. */
  alsoServed?: Array<{ method: string; path: string }>;
}): RequestHandler[] {
  const routes = restRoutes(options.router);
  const methodsByPath = new Map<string, string[]>();
  const declared = [...routes.keys()].map((key) => {
    const [method = "", path = ""] = key.split(" ");
    return { method, path };
  });
  for (const { method, path } of [...declared, ...(options.alsoServed ?? [])]) {
    methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method]);
  }

  const match: RequestHandler = (req, res, next) => {
    const path = trimSlash(req.path);
    const method = req.method === "HEAD" ? "GET" : req.method;
    const route = routes.get(`${method} ${path}`);
    if (route !== undefined) {
      res.locals.restRoute = route;
      return next();
    }
    const allowed = methodsByPath.get(path);
    if (allowed === undefined) return sendError(res, notFound(req));
    sendError(
      res,
      new AppError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on this route`, { allow: allowed }),
      { Allow: allowed.join(", ") },
    );
  };

  const invoke: RequestHandler = async (req, res) => {
    const route = res.locals.restRoute as RestRoute;
    // GET inputs are the query string as it is: strings stay strings, nothing is coerced.
    const input = route.type === "query" ? { ...(req.query as Record<string, unknown>) } : req.body;
    try {
      const output = await callTRPCProcedure({
        router: options.router,
        path: route.procedure,
        type: route.type,
        ctx: options.createContext(req),
        getRawInput: async () => input,
        signal: undefined,
        batchIndex: 0,
      });
      // An asynchronous execution that did not finish within the wait (issue 13): 202 + Location.
      if (isExecuteAccepted(output)) {
        res.status(202).setHeader("Location", output.location);
        res.setHeader("Preference-Applied", "respond-async");
      }
      res.json(output);
    } catch (thrown) {
      const error = appErrorFromTRPC(getTRPCErrorFromUnknown(thrown));
      logIfServerError(options.logger, error, `REST ${req.method} ${req.originalUrl.split("?")[0]}`, {
        requestId: requestIdOf(res),
      });
      sendError(res, error);
    }
  };

  return [
    match,
    requireJsonBody("rest"),
    // Its failures (413, malformed JSON) reach the app's error handler, which answers our body.
    express.json({ limit: options.maxBodySize, strict: true }),
    invoke,
  ];
}
