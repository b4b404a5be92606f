import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context } from "@spell/api";
import {
  type AnyProcedure,
  type AnyRouter,
  callTRPCProcedure,
  getTRPCErrorFromUnknown,
  TRPCError,
} from "@trpc/server";
import type { TRPCResponse } from "@trpc/server/rpc";
import { getErrorShape, getHTTPStatusCode } from "@trpc/server/unstable-core-do-not-import";
import { BodyTooLarge, readBodyText } from "./body.ts";

export interface LeanTrpcOptions {
  router: AnyRouter;
  createContext: (req: IncomingMessage, res: ServerResponse) => Context;
  /** Largest accepted body in bytes; a larger one is tRPC's `PAYLOAD_TOO_LARGE` (413). */
  maxBodySize: number;
  /** Called for every failed call, like the adapter's `onError`. */
  onError?: (opts: { error: TRPCError; path: string; req: IncomingMessage; res: ServerResponse }) => void;
}

/** What tRPC's fetch handler sends with every answer (the adapter copies it to the response). */
const VARY = "trpc-accept, accept";

/**
 * tRPC's HTTP wire format for the calls `httpLink` makes — one procedure per request, no batch:
 * `POST /trpc/<path>` with a JSON body for mutations, `GET /trpc/<path>?input=<json>` for queries —
 * answered without the adapter's per-call Fetch `Request`, `Headers`, `AbortController`s and web
 * streams. The procedure runs through `callTRPCProcedure`, as on REST and in tRPC's own handler
 * (same middlewares, schemas and order), and errors go through the router's `errorFormatter` by
 * tRPC's own `getErrorShape` and `getHTTPStatusCode`, so the body and the status are tRPC's.
 *
 * The input stays lazy like tRPC's: the body is read as it arrives but parsed only when the
 * procedure asks for it (after the authentication middleware), and bad JSON is `BAD_REQUEST` with
 * the `SyntaxError` as its cause, which the formatter answers as `MALFORMED_JSON`.
 *
 * Everything else — unknown procedures, a method the procedure does not take (405 with `Allow`),
 * batches, streaming (`trpc-accept`), `HEAD`, subscriptions — is passed on to tRPC's adapter, which
 * must be mounted right after this handler.
 */
export function createLeanTrpcHandler(
  options: LeanTrpcOptions,
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const { router, maxBodySize } = options;
  const procedures = router._def.procedures as Record<string, AnyProcedure | undefined>;
  const config = router._def._config;

  return (req, res, next) => {
    if (req.headers["trpc-accept"] !== undefined) return next();
    const url = req.url ?? "/"; // relative to the mount point: `/spell.execute?…`
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    if (pathname.lastIndexOf("/") !== 0) return next();
    const path = pathname.slice(1);
    const procedure = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
    if (procedure === undefined) return next();
    const type = procedure._def.type;

    let readInput: () => Promise<unknown>;
    if (type === "mutation" && req.method === "POST") {
      if (query !== -1) return next(); // `?batch=1` and the like: tRPC's own answer
      const body = readBody(req, maxBodySize);
      // A call refused before its input is read (401) never looks at the body's failure.
      body.catch(() => {});
      readInput = async () => parseInput(await body);
    } else if (type === "query" && req.method === "GET") {
      let input: string | null = null;
      if (query !== -1) {
        const params = new URLSearchParams(url.slice(query + 1));
        if (params.has("batch")) return next();
        input = params.get("input");
      }
      readInput = async () => parseInput(input);
    } else {
      return next();
    }

    let parsed: unknown;
    let pending: Promise<unknown> | undefined;
    // Memoised as tRPC does: any failure to read or parse is BAD_REQUEST unless already a TRPCError.
    const getRawInput = () => {
      pending ??= readInput().then(
        (value) => {
          parsed = value;
          return value;
        },
        (cause: unknown) => {
          if (cause instanceof TRPCError) throw cause;
          throw new TRPCError({
            code: "BAD_REQUEST",
            message: cause instanceof Error ? cause.message : "Invalid input",
            cause,
          });
        },
      );
      return pending;
    };

    let ctx: Context | undefined;
    const run = async (): Promise<unknown> => {
      ctx = options.createContext(req, res);
      return callTRPCProcedure({
        router,
        path,
        type,
        ctx,
        getRawInput,
        signal: undefined,
        batchIndex: 0,
      });
    };
    const fail = (thrown: unknown) => {
      const error = getTRPCErrorFromUnknown(thrown);
      options.onError?.({ error, path, req, res });
      // Built here too when the call failed before it (the error body still carries the request id).
      ctx ??= options.createContext(req, res);
      const body: TRPCResponse = {
        error: getErrorShape({ config, ctx, error, input: parsed, path, type }),
      };
      send(res, getHTTPStatusCode(body, [error]), JSON.stringify(body));
    };
    run()
      .then((data) => {
        let json: string;
        try {
          json = JSON.stringify({ result: { data } });
        } catch (cause) {
          // An output JSON cannot hold (a BigInt, a cycle) is tRPC's INTERNAL_SERVER_ERROR too.
          return fail(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }));
        }
        send(res, 200, json);
      }, fail)
      // A write that throws (nothing should) cuts the connection instead of an unhandled rejection.
      .catch(() => res.destroy());
  };
}

function send(res: ServerResponse, status: number, json: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("vary", VARY);
  res.end(json);
}

/** `""`/absent is no input (httpLink sends no body for `undefined`); JSON otherwise. */
function parseInput(text: string | null): unknown {
  return text ? JSON.parse(text) : undefined;
}

/** The body as text (see `readBodyText`); over `limit` bytes tRPC's `PAYLOAD_TOO_LARGE`. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return readBodyText(req, limit).catch((error: unknown) => {
    throw error instanceof BodyTooLarge ? new TRPCError({ code: "PAYLOAD_TOO_LARGE" }) : error;
  });
}
