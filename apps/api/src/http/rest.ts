import type { AnyRouter } from "@trpc/server";
import type { Request, RequestHandler, Response } from "express";
import { createOpenApiExpressMiddleware } from "trpc-to-openapi";
import { appErrorFromTRPC, type Logger, logIfServerError } from "../errors.ts";
import type { Context } from "../trpc.ts";

/**
 * trpc-to-openapi's handler with our error body. Its error response spreads tRPC's shape and then
 * overwrites `message`, `code` and `issues` (upstream issue #168), so on error its `onError` takes
 * over that one response's `end` and writes `{"ok": false, "error": …}` with our status instead.
 */
export function createRestHandler(options: {
  router: AnyRouter;
  createContext: (req: Request) => Context;
  maxBodySize: number;
  logger: Logger;
}): RequestHandler {
  const handler = createOpenApiExpressMiddleware({
    router: options.router,
    maxBodySize: options.maxBodySize,
    createContext: ({ req }: { req: Request }) => options.createContext(req),
    onError: ({ error, req }: { error: Parameters<typeof appErrorFromTRPC>[0]; req: Request }) => {
      const appError = appErrorFromTRPC(error);
      logIfServerError(options.logger, appError, `REST ${req.method} ${req.originalUrl.split("?")[0]}`);
      const res = req.res as Response | undefined;
      if (res === undefined) return;
      const end = res.end.bind(res);
      const body = JSON.stringify(appError.toBody());
      res.end = (() => {
        res.statusCode = appError.status;
        res.setHeader("Content-Type", "application/json; charset=utf-8");
        res.setHeader("Content-Length", Buffer.byteLength(body));
        return end(body);
      }) as Response["end"];
    },
  } as Parameters<typeof createOpenApiExpressMiddleware>[0]);
  return handler as unknown as RequestHandler;
}
