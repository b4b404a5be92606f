import type { ServerResponse } from "node:http";
import { trpcErrorBody } from "@spell/api";
import { AppError } from "@spell/contracts";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Logger } from "../errors.ts";
import { logIfServerError } from "../errors.ts";
import { requestIdOf } from "../observability/request-id.ts";

/**
 * The unified error body, with the request's id beside `error` (`{"ok":false,"error":{…},
 * "requestId":"…"}`) so a caller can quote it and an operator can find the request's log lines.
 */
export function sendError(res: ServerResponse, error: AppError, headers: Record<string, string> = {}): void {
  const requestId = requestIdOf(res);
  const body = requestId === undefined ? error.toBody() : { ...error.toBody(), requestId };
  writeJson(res, error.status, JSON.stringify(body), headers);
}

/**
 * A JSON answer as Express's `res.json` writes it (`application/json; charset=utf-8`, a length),
 * on a bare `ServerResponse` too (the front door's). Node drops the body of a HEAD answer itself.
 */
export function writeJson(
  res: ServerResponse,
  status: number,
  json: string,
  headers?: Record<string, string>,
): void {
  res.statusCode = status;
  if (headers) for (const name in headers) res.setHeader(name, headers[name] as string);
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(json));
  res.end(json);
}

/** tRPC's own error shape for refusals made before tRPC runs, with the request id beside it. */
function sendTrpcError(res: Response, error: AppError): void {
  const requestId = requestIdOf(res);
  res
    .status(error.status)
    .json({ ...trpcErrorBody(error), ...(requestId === undefined ? {} : { requestId }) });
}

/**
 * POST bodies are JSON, nothing else, on both transports. The content type is normalised to bare
 * `application/json` because body parsers differ on
 * parameters; tRPC would otherwise also accept form data and octet streams.
 */
const REST_ENCODINGS = new Set(["gzip", "deflate"]);

export function requireJsonBody(
  transport: "rest" | "trpc",
  /** A request allowed to come without a body at all (no content type, no content). */
  bodyless?: (req: Request, res: Response) => boolean,
): RequestHandler {
  return (req, res, next) => {
    if (req.method !== "POST") return next();
    const header = req.headers["content-type"];
    // What every SDK, CLI and wrk request sends: nothing to normalise, nothing to split.
    if (header === "application/json" && req.headers["content-encoding"] === undefined) return next();
    if (bodyless?.(req, res)) return next();
    const [type = "", ...params] = (header ?? "").split(";");
    const charset = params
      .map((param) => param.trim().toLowerCase())
      .find((param) => param.startsWith("charset="))
      ?.slice("charset=".length)
      .replace(/"/g, "");
    if (type.trim().toLowerCase() !== "application/json" || (charset !== undefined && charset !== "utf-8")) {
      const error = new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        "The request body must be application/json (UTF-8)",
        {
          contentType: header ?? null,
        },
      );
      if (transport === "trpc") return sendTrpcError(res, error);
      return sendError(res, error);
    }
    req.headers["content-type"] = "application/json";
    // tRPC reads the raw bytes and would try to parse a compressed body as JSON; REST inflates gzip
    // and deflate through body-parser (bounded by the body limit after inflation).
    const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
    if (encoding !== "identity" && (transport === "trpc" || !REST_ENCODINGS.has(encoding))) {
      const error = new AppError("UNSUPPORTED_MEDIA_TYPE", "This Content-Encoding is not supported", {
        contentEncoding: req.headers["content-encoding"] ?? null,
        supported: transport === "trpc" ? ["identity"] : ["identity", ...REST_ENCODINGS],
      });
      if (transport === "trpc") return sendTrpcError(res, error);
      return sendError(res, error);
    }
    next();
  };
}

export function notFound(req: Request): AppError {
  return new AppError("NOT_FOUND", "No such route", {
    method: req.method,
    path: req.originalUrl.split("?")[0],
  });
}

export const notFoundHandler: RequestHandler = (req, res) => sendError(res, notFound(req));

/** The last word on anything thrown outside the routers: our JSON body, never Express's HTML page. */
export function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const appError = fromExpressError(error);
    logIfServerError(logger, appError, `${req.method} ${req.originalUrl.split("?")[0]}`, {
      requestId: requestIdOf(res),
    });
    sendError(res, appError);
  };
}

/** body-parser style errors (from routes mounted through `extraRoutes`) keep their meaning. */
function fromExpressError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const type = (error as { type?: unknown } | null)?.type;
  if (type === "entity.too.large")
    return new AppError("PAYLOAD_TOO_LARGE", "The request body is too large", {});
  if (type === "entity.parse.failed")
    return new AppError("MALFORMED_JSON", "The request body is not valid JSON", {});
  if (type === "encoding.unsupported" || type === "charset.unsupported")
    return new AppError("UNSUPPORTED_MEDIA_TYPE", "This body encoding is not supported", {});
  // Any other refusal of the body reader (a corrupt gzip stream, an aborted upload) is the caller's.
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === "number" && status >= 400 && status < 500)
    return new AppError("VALIDATION_ERROR", "The request body could not be read", {
      reason: typeof type === "string" ? type : "unreadable_body",
    });
  return new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: error });
}
