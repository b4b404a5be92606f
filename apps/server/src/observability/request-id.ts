import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { RequestHandler, Response } from "express";

export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * What a caller (or the load balancer in front) may choose as a request id: short, and made of
 * characters that survive every log pipeline and header unquoted. Compiled once, at load.
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's id when it is usable, so one id follows a request across systems; else a fresh UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && VALID_REQUEST_ID.test(value) ? value : randomUUID();
}

/** The request id this response carries (set by `requestIdMiddleware`), if any. */
export function requestIdOf(res: Response | ServerResponse): string | undefined {
  return ((res as Response).locals as { requestId?: string } | undefined)?.requestId;
}

/** First in the chain: every response, errors and 404s included, carries `X-Request-Id`. */
export const requestIdMiddleware: RequestHandler = (req, res, next) => {
  const requestId = requestIdFrom(req.headers["x-request-id"]);
  (res.locals as { requestId?: string }).requestId = requestId;
  res.setHeader(REQUEST_ID_HEADER, requestId);
  next();
};
