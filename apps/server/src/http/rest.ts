import type { IncomingMessage, ServerResponse } from "node:http";
import { appErrorFromTRPC, type Context } from "@spell/api";
import { AppError, isExecuteAccepted } from "@spell/contracts";
import {
  type AnyRouter,
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  type TRPCProcedureType,
} from "@trpc/server";
import express, { type RequestHandler } from "express";
import type { OpenApiMeta } from "trpc-to-openapi";
import { type Logger, logIfServerError } from "../errors.ts";
import { requestIdOf } from "../observability/request-id.ts";
import { notFound, requireJsonBody, sendError, writeJson } from "./guards.ts";

export interface RestRoute {
  /** The procedure's dotted path in the router, e.g. `spell.execute`. */
  procedure: string;
  type: TRPCProcedureType;
}

/**
 * `method path` → procedure, from each procedure's OpenAPI metadata (the contracts' routes), plus
 * the older exact paths a procedure still answers on (`restAliases` in its metadata). A path may
 * hold `{name}` segments (`/executions/{id}`): see `compilePathTemplate`.
 */
export function restRoutes(router: AnyRouter): Map<string, RestRoute> {
  const routes = new Map<string, RestRoute>();
  for (const [procedure, definition] of Object.entries(router._def.procedures)) {
    const def = (
      definition as {
        _def: { meta?: OpenApiMeta & { restAliases?: string[] }; type: TRPCProcedureType };
      }
    )._def;
    const openapi = def.meta?.openapi;
    if (openapi === undefined || openapi.enabled === false) continue;
    routes.set(`${openapi.method} ${openapi.path}`, { procedure, type: def.type });
    for (const alias of def.meta?.restAliases ?? []) {
      routes.set(`${openapi.method} ${alias}`, { procedure, type: def.type });
    }
  }
  return routes;
}

export type PathParams = Record<string, string>;

export function isPathTemplate(path: string): boolean {
  return path.includes("{");
}

/**
 * `/executions/{id}/cancel` → a matcher of concrete paths: each `{name}` is one non-empty segment,
 * percent-decoded; anything else must be equal. Null: no match (also for a malformed escape).
 */
export function compilePathTemplate(template: string): (path: string) => PathParams | null {
  const parts = template
    .split("/")
    .map((part) =>
      part.startsWith("{") && part.endsWith("}") ? { param: part.slice(1, -1) } : { literal: part },
    );
  return (path) => {
    const segments = path.split("/");
    if (segments.length !== parts.length) return null;
    const params: PathParams = {};
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as { param?: string; literal?: string };
      const segment = segments[i] as string;
      if (part.param === undefined) {
        if (segment !== part.literal) return null;
        continue;
      }
      if (segment === "") return null;
      try {
        params[part.param] = decodeURIComponent(segment);
      } catch {
        return null;
      }
    }
    return params;
  };
}

interface TemplateRoute {
  method: string;
  template: string;
  match: (path: string) => PathParams | null;
  route: RestRoute;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * Runs one REST route's procedure and writes its answer (or our error body): shared by the
 * Express handlers below and the front door (`front-door.ts`), so both answer byte for byte alike.
 */
export function createRestAnswer(options: { router: AnyRouter; logger: Logger }) {
  return async (
    route: RestRoute,
    input: unknown,
    ctx: Context,
    res: ServerResponse,
    label: string,
  ): Promise<void> => {
    let output: unknown;
    try {
      output = await callTRPCProcedure({
        router: options.router,
        path: route.procedure,
        type: route.type,
        ctx,
        getRawInput: async () => input,
        signal: undefined,
        batchIndex: 0,
      });
    } catch (thrown) {
      const error = appErrorFromTRPC(getTRPCErrorFromUnknown(thrown));
      logIfServerError(options.logger, error, label, { requestId: requestIdOf(res) });
      return sendError(res, error);
    }
    let json: string;
    try {
      json = JSON.stringify(output);
    } catch (cause) {
      const error = new AppError("INTERNAL_ERROR", "Internal error", {}, { cause });
      logIfServerError(options.logger, error, label, { requestId: requestIdOf(res) });
      return sendError(res, error);
    }
    // An asynchronous execution that did not finish within the wait (issue 13): 202 + Location.
    if (isExecuteAccepted(output)) {
      res.setHeader("Location", output.location);
      res.setHeader("Preference-Applied", "respond-async");
      return writeJson(res, 202, json);
    }
    writeJson(res, 200, json);
  };
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
  createContext: (req: IncomingMessage, res: ServerResponse) => Context;
  maxBodySize: number;
  logger: Logger;
  /** Extra `METHOD /path` pairs served elsewhere (e.g. `GET /openapi.json`), for 405 answers. */
  alsoServed?: Array<{ method: string; path: string }>;
}): RequestHandler[] {
  const all = restRoutes(options.router);
  const answer = createRestAnswer(options);
  // Exact paths answer with one Map lookup (the hot routes); templates are tried only after a miss.
  const routes = new Map<string, RestRoute>();
  const templates: TemplateRoute[] = [];
  const methodsByPath = new Map<string, string[]>();
  for (const [key, route] of all) {
    const [method = "", path = ""] = key.split(" ");
    if (isPathTemplate(path)) {
      templates.push({ method, template: path, match: compilePathTemplate(path), route });
    } else {
      routes.set(key, route);
    }
  }
  for (const { method, path } of [
    ...[...routes.keys()].map((key) => {
      const [method = "", path = ""] = key.split(" ");
      return { method, path };
    }),
    ...(options.alsoServed ?? []),
  ]) {
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
    let allowed = methodsByPath.get(path);
    if (allowed === undefined) {
      const shaped: string[] = [];
      for (const candidate of templates) {
        const params = candidate.match(path);
        if (params === null) continue;
        if (candidate.method === method) {
          res.locals.restRoute = candidate.route;
          res.locals.restParams = params;
          return next();
        }
        shaped.push(candidate.method);
      }
      if (shaped.length > 0) allowed = shaped;
    }
    if (allowed === undefined) return sendError(res, notFound(req));
    sendError(
      res,
      new AppError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on this route`, { allow: allowed }),
      { Allow: allowed.join(", ") },
    );
  };

  /** A POST on a path-parameter route may come without a body (`POST /executions/{id}/cancel`). */
  const bodyless: RequestHandler = (req, res, next) => {
    const length = req.headers["content-length"];
    const noBody = (length === undefined || length === "0") && req.headers["transfer-encoding"] === undefined;
    if (res.locals.restParams !== undefined && noBody && req.headers["content-type"] === undefined) {
      res.locals.restNoBody = true;
    }
    next();
  };

  const invoke: RequestHandler = (req, res) => {
    const route = res.locals.restRoute as RestRoute;
    const params = res.locals.restParams as PathParams | undefined;
    // GET inputs are the query string as it is: strings stay strings, nothing is coerced. Path
    // parameters win over a query or body member of the same name.
    let input: unknown =
      route.type === "query" ? { ...(req.query as Record<string, unknown>), ...params } : req.body;
    if (route.type !== "query" && params !== undefined) {
      if (res.locals.restNoBody === true) input = { ...params };
      else if (isPlainObject(req.body)) input = { ...req.body, ...params };
    }
    return answer(
      route,
      input,
      options.createContext(req, res),
      res,
      `REST ${req.method} ${req.originalUrl.split("?")[0]}`,
    );
  };

  return [
    match,
    bodyless,
    requireJsonBody("rest", (_req, res) => res.locals.restNoBody === true),
    // Its failures (413, malformed JSON) reach the app's error handler, which answers our body.
    express.json({ limit: options.maxBodySize, strict: true }),
    invoke,
  ];
}
