import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context } from "@spell/api";
import { AppError } from "@spell/contracts";
import type { ExecutionNotes } from "@spell/engine";
import type { ResponseLocals } from "../observability/access-log.ts";
import { BodyTooLarge, readBodyText } from "./body.ts";
import { sendError } from "./guards.ts";
import type { RestRoute } from "./rest.ts";

/** What the front door answers itself: the execute route of each transport, nothing else. */
export const REST_EXECUTE_URL = "/api/spell/execute";
export const TRPC_EXECUTE_URL = "/trpc/spell.execute";
const TRPC_MOUNT = "/trpc";

export interface FrontDoorOptions {
  maxBodySize: number;
  /** The request id and the access line: what the app's first two middlewares do for Express. */
  begin: (req: IncomingMessage, res: ServerResponse) => ResponseLocals;
  /** `POST /api/spell/execute`'s route and the REST answer (shared with the Express handlers). */
  restRoute: RestRoute;
  answerRest: (
    route: RestRoute,
    input: unknown,
    ctx: Context,
    res: ServerResponse,
    label: string,
  ) => Promise<void>;
  createContext: (req: IncomingMessage, res: ServerResponse) => Context;
  /** The lean `/trpc` handler, called as if mounted at `/trpc`. */
  trpc: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  /** What failed while writing an answer (logged as a server error; the connection is then cut). */
  onUnexpected: (error: unknown, res: ServerResponse) => void;
  /** Read per request: set by `mountRateLimits` while the app is built (see rate-limit.ts). */
  decorate: () => ((res: ServerResponse, notes: ExecutionNotes) => void) | undefined;
}

/**
 * The hot path's door: `POST /api/spell/execute` and `POST /trpc/spell.execute` in their plain
 * form (exactly that URL, `Content-Type: application/json`, no `Content-Encoding`, for tRPC no
 * `trpc-accept`) are answered from `node:http` without Express's router, request/response
 * prototypes and body-parser — about 40% of an execute's CPU (439 → ~260 µs per REST execute).
 * They do what Express's chain does for them, in its order: request id, access line and metrics,
 * rate-limit headers, the body (same limit, same strict JSON as `express.json`, same errors), the
 * procedure, the same answer bytes (`createRestAnswer`, the lean tRPC handler). Every other
 * request — other routes, other encodings, a query string, a trailing slash — returns false and
 * goes to Express, which serves it as before. The app returned by `createApp` is this door in
 * front of Express, so every test of these routes runs through it.
 */
export function createFrontDoor(
  options: FrontDoorOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { maxBodySize, restRoute } = options;
  return (req, res) => {
    if (req.method !== "POST") return false;
    const url = req.url;
    const isRest = url === REST_EXECUTE_URL;
    if (!isRest && url !== TRPC_EXECUTE_URL) return false;
    const headers = req.headers;
    if (headers["content-type"] !== "application/json" || headers["content-encoding"] !== undefined)
      return false;
    if (!isRest && headers["trpc-accept"] !== undefined) return false;

    const locals = options.begin(req, res);
    options.decorate()?.(res, locals.facts);
    if (!isRest) {
      // As Express mounts it: the path relative to `/trpc`, the full one kept for the access line.
      (req as { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(TRPC_MOUNT.length);
      options.trpc(req, res, () => sendError(res, new AppError("NOT_FOUND", "No such route", {})));
      return true;
    }
    readJsonBody(req, maxBodySize)
      .then(
        (input) =>
          options.answerRest(
            restRoute,
            input,
            options.createContext(req, res),
            res,
            `REST POST ${REST_EXECUTE_URL}`,
          ),
        (error: AppError) => sendError(res, error),
      )
      // Nothing above should throw (answers and errors are written there); if writing itself does,
      // the connection is cut rather than the process left with an unhandled rejection.
      .catch((error: unknown) => {
        options.onUnexpected(error, res);
        res.destroy();
      });
    return true;
  };
}

/** body-parser's test for a body: a `Transfer-Encoding`, or a `Content-Length` that is a number. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (
    req.headers["transfer-encoding"] !== undefined || (length !== undefined && !Number.isNaN(Number(length)))
  );
}

const tooLarge = () => new AppError("PAYLOAD_TOO_LARGE", "The request body is too large", {});
const malformed = () => new AppError("MALFORMED_JSON", "The request body is not valid JSON", {});

/**
 * `express.json({ strict: true, limit })` for a UTF-8 body, with the app's error bodies: no body →
 * undefined; empty → `{}`; over `limit` (announced or counted) → 413; a top level other than an
 * object or an array, or bad JSON → 400 `MALFORMED_JSON`; a byte-order mark is dropped first.
 */
export function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!hasBody(req)) return Promise.resolve(undefined);
  const announced = Number(req.headers["content-length"]);
  if (announced > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return readBodyText(req, limit).then(
    (body) => {
      const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
      if (text.length === 0) return {};
      const first = firstNonBlank(text);
      if (first !== "{" && first !== "[") throw malformed();
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw malformed();
      }
    },
    (error: unknown) => {
      if (error instanceof BodyTooLarge) throw tooLarge();
      throw new AppError("VALIDATION_ERROR", "The request body could not be read", {
        reason: "request.aborted",
      });
    },
  );
}

/** The first character that is not JSON whitespace (space, tab, line feed, carriage return). */
function firstNonBlank(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return text[i];
  }
  return undefined;
}
