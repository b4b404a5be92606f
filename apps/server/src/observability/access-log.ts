import { performance } from "node:perf_hooks";
import type { Request, RequestHandler, Response } from "express";
import { compilePathTemplate, isPathTemplate } from "../http/rest.ts";
import type { PinoLogger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { RequestFacts } from "./observed-engine.ts";
import { requestIdOf } from "./request-id.ts";

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
export function requestFactsOf(res: Response): RequestFacts {
  return (res.locals as { facts: RequestFacts }).facts;
}

/**
 * One access line and one latency observation per request, when the response is done (or the
 * client went away): request id, method, route, status, duration, caller, spell, execution id.
 */
export function accessLog(options: {
  log: PinoLogger | undefined;
  metrics: Metrics | undefined;
  routeOf: (path: string) => string;
}): RequestHandler {
  const { metrics, routeOf } = options;
  // Access lines are built here from a fixed set of fields, none a secret: redaction (a fifth of the
  // logging cost per request) is for the free-form lines, not these.
  const log = options.log?.child({}, { redact: { paths: [], censor: "[redacted]" } });
  return (req, res, next) => {
    const started = performance.now();
    const facts: RequestFacts = {};
    (res.locals as { facts: RequestFacts }).facts = facts;
    res.once("close", () => finished(req, res, facts, started));
    next();
  };

  function finished(req: Request, res: Response, facts: RequestFacts, started: number): void {
    const durationMs = performance.now() - started;
    const path = pathOf(req.originalUrl);
    const route = routeOf(path);
    const status = res.statusCode;
    metrics?.observeRequest(req.method, route, status, durationMs / 1000);
    if (log === undefined) return;
    const line = {
      requestId: requestIdOf(res),
      method: req.method,
      route,
      path: route === UNMATCHED_ROUTE ? path : undefined,
      status,
      durationMs: Math.round(durationMs * 10) / 10,
      userId: facts.userId,
      spell: facts.spell,
      executionId: facts.executionId,
      ip: req.ip,
      aborted: res.writableFinished ? undefined : true,
    };
    if (status >= 500) log.error(line, "request failed");
    else log.info(line, "request");
  }
}
