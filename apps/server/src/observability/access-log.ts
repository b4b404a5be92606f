import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { RequestHandler, Response } from "express";
import { compilePathTemplate, isPathTemplate } from "../http/rest.ts";
import type { PinoLogger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { RequestFacts } from "./observed-engine.ts";

/** Label of every path no route serves: a scanner's thousand URLs are one series, not a thousand. */
export const UNMATCHED_ROUTE = "unmatched";

export function pathOf(url: string): string {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * `path → route label` over a fixed set of known paths (REST routes, tRPC procedures, probes), so
 * metric labels stay bounded whatever clients send. One Set lookup per request; a path-parameter
 * route (`/api/executions/{id}`) is labelled with its template, tried only when the lookup misses.
 */
export function routeLabels(knownPaths: Iterable<string>): (path: string) => string {
  const known = new Set<string>();
  const templates: Array<{ template: string; match: (path: string) => unknown }> = [];
  for (const path of knownPaths) {
    if (isPathTemplate(path)) templates.push({ template: path, match: compilePathTemplate(path) });
    else known.add(path);
  }
  return (path) => {
    if (known.has(path)) return path;
    for (const { template, match } of templates) if (match(path) !== null) return template;
    return UNMATCHED_ROUTE;
  };
}

/** The facts the engine noted for this request (see `ObservedEngine`), created here. */
export function requestFactsOf(res: Response | ServerResponse): RequestFacts {
  return ((res as Response).locals as ResponseLocals).facts;
}

/** What every response gets first: its request id, and the facts its access line will say. */
export interface ResponseLocals {
  requestId?: string;
  facts: RequestFacts;
}

/**
 * One access line and one latency observation per request, when the response is done (or the
 * client went away): request id, method, route, status, duration, caller, spell, execution id.
 * `start` is called once per request, by the Express middleware below or by the front door
 * (`http/front-door.ts`), which passes the caller's address as Express would compute it.
 */
export function createAccessLog(options: {
  log: PinoLogger | undefined;
  metrics: Metrics | undefined;
  routeOf: (path: string) => string;
}): (
  req: IncomingMessage,
  res: ServerResponse,
  locals: ResponseLocals,
  ipOf: () => string | undefined,
) => void {
  const { metrics, routeOf } = options;
  // Access lines are built here from a fixed set of fields, none a secret: redaction (a fifth of the
  // logging cost per request) is for the free-form lines, not these.
  const log = options.log?.child({}, { redact: { paths: [], censor: "[redacted]" } });
  return (req, res, locals, ipOf) => {
    const started = performance.now();
    res.once("close", () => {
      const durationMs = performance.now() - started;
      const path = pathOf((req as { originalUrl?: string }).originalUrl ?? req.url ?? "/");
      const route = routeOf(path);
      const status = res.statusCode;
      const method = req.method ?? "GET";
      metrics?.observeRequest(method, route, status, durationMs / 1000);
      if (log === undefined) return;
      const { facts } = locals;
      const line = {
        requestId: locals.requestId,
        method,
        route,
        path: route === UNMATCHED_ROUTE ? path : undefined,
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        userId: facts.userId,
        spell: facts.spell,
        executionId: facts.executionId,
        ip: ipOf(),
        aborted: res.writableFinished ? undefined : true,
      };
      if (status >= 500) log.error(line, "request failed");
      else log.info(line, "request");
    });
  };
}

/** The access log as Express middleware (every request the front door does not answer). */
export function accessLog(start: ReturnType<typeof createAccessLog>): RequestHandler {
  return (req, res, next) => {
    const locals = res.locals as ResponseLocals;
    locals.facts = {};
    start(req, res, locals, () => req.ip);
    next();
  };
}
