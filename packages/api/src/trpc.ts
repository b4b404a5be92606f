import {
  AppError,
  currentJsonBounds,
  ERROR_STATUS,
  type ErrorCode,
  type ErrorDetails,
  findJsonBoundsViolation,
  type ProcedureContract,
  ZIdempotencyKey,
} from "@spell/contracts";
import type { Access, AsyncOptions, Engine, ExecutionNotes } from "@spell/engine";
import { initTRPC } from "@trpc/server";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import type { OpenApiMeta } from "trpc-to-openapi";
import { appErrorFromTRPC, trpcCodeOf } from "./errors.ts";

/** Per request: nothing is verified yet; procedures that need a caller narrow it by middleware. */
export interface Context {
  engine: Engine;
  /** The raw `Authorization` header; the engine verifies it. */
  authorization: string | undefined;
  /** The `Idempotency-Key` header; a body `idempotencyKey` wins over it. */
  idempotencyKey: string | undefined;
  /** The `Prefer` header (RFC 7240): `respond-async`, `wait=N` ask for an asynchronous execution. */
  prefer?: string | undefined;
  /** The `Cancel-After` header (seconds): a queued run not started by then is aborted. */
  cancelAfter?: string | undefined;
  /** This request's id (the `X-Request-Id` the server answers with), copied into `error.data`. */
  requestId?: string | undefined;
  /** Where an execute's pipeline notes what its answer's headers need (the rate limits counted). */
  notes?: ExecutionNotes | undefined;
}

/** What tRPC clients find in `error.data`: the same code and details as the REST error body. */
export interface SpellErrorData {
  code: ErrorCode;
  httpStatus: number;
  details: ErrorDetails;
  path?: string;
  /** The request's id, as in the `X-Request-Id` response header: quote it when reporting a failure. */
  requestId?: string;
}

/**
 * A procedure's metadata: its OpenAPI route (from the contract) and, for a route that moved, the
 * older exact paths REST still answers on (`restAliases`, relative to `/api`, same method). Aliases
 * are not in the OpenAPI document.
 */
export type ProcedureMeta = OpenApiMeta & { restAliases?: string[] };

const t = initTRPC
  .context<Context>()
  .meta<ProcedureMeta>()
  .create({
    // Stacks never leave the process, whatever NODE_ENV says.
    isDev: false,
    errorFormatter({ error, shape, ctx }) {
      const appError = appErrorFromTRPC(error);
      const data: SpellErrorData = {
        code: appError.code,
        // tRPC answers with data.httpStatus when set: one status per code on both transports.
        httpStatus: appError.status,
        details: appError.details,
      };
      if (shape.data.path !== undefined) data.path = shape.data.path;
      if (ctx?.requestId !== undefined) data.requestId = ctx.requestId;
      return { code: TRPC_ERROR_CODES_BY_KEY[trpcCodeOf(appError.code)], message: appError.message, data };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Every input, whole, is held to the JSON bounds before its schema reads it: a U+0000 or a lone
 * surrogate in any string (a user id, a reason, a filter), not only in spell inputs, would otherwise
 * reach Postgres and answer 500. One iterative pass over what was already parsed.
 */
const storableInput = t.middleware(async ({ getRawInput, next }) => {
  const raw = await getRawInput();
  // No input at all (a query called without one) is for the procedure's schema to judge.
  const violation = raw === undefined ? null : findJsonBoundsViolation(raw, currentJsonBounds());
  if (violation !== null) {
    throw new AppError("VALIDATION_ERROR", "Input validation failed", {
      issues: [
        {
          code: "custom",
          path: violation.path,
          message: `Value ${violation.message}`,
          reason: violation.reason,
        },
      ],
    });
  }
  return next();
});

/** No caller required (execute: the engine verifies the token itself, as the first pipeline step). */
export const publicProcedure = t.procedure.use(storableInput);

/**
 * A procedure whose caller the engine admits for `access` before the input is read (see
 * `Engine.authenticate`); the router decides nothing itself. The engine's operations check their
 * own access as well, so a transport that skipped this could still not get past them.
 */
function authenticatedProcedure(access: Access) {
  // The caller first (a stranger learns nothing about what it sent), then the input's bounds.
  return t.procedure
    .use(async ({ ctx, next }) => {
      const session = await ctx.engine.authenticate(ctx.authorization, access);
      return next({ ctx: { session } });
    })
    .use(storableInput);
}

/** A verified caller, banned or not: only for reading one's own status. */
export const sessionProcedure = authenticatedProcedure("any");

/** A verified caller who is not banned. */
export const userProcedure = authenticatedProcedure("user");

/** A verified, not banned caller whose token carries `spell:admin` from an admin-capable issuer. */
export const adminProcedure = authenticatedProcedure("admin");

/** The `Idempotency-Key` header, held to the same grammar as the body field. */
export function headerIdempotencyKey(ctx: Context): string | undefined {
  if (ctx.idempotencyKey === undefined) return undefined;
  const parsed = ZIdempotencyKey.safeParse(ctx.idempotencyKey);
  if (!parsed.success) {
    throw new AppError("VALIDATION_ERROR", "Invalid Idempotency-Key header", {
      issues: parsed.error.issues.map((issue) => ({
        code: issue.code,
        path: ["Idempotency-Key"],
        message: issue.message,
      })),
    });
  }
  return parsed.data;
}

const COMMON_ERRORS: ErrorCode[] = [
  "VALIDATION_ERROR",
  "UNAUTHORIZED",
  "INTERNAL_ERROR",
  "SERVICE_UNAVAILABLE",
];
const BODY_ERRORS: ErrorCode[] = ["MALFORMED_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"];

/**
 * The OpenAPI metadata of a procedure, straight from its contract. The error responses list every
 * code the route can answer, grouped by status; the document points them all at ErrorBody.
 */
export function routeMeta({ route, errors, headers }: ProcedureContract): OpenApiMeta {
  const codes = new Set<ErrorCode>([...COMMON_ERRORS, ...errors]);
  if (route.method === "POST") for (const code of BODY_ERRORS) codes.add(code);
  if (route.access === "admin") codes.add("FORBIDDEN");
  const byStatus: Record<number, string> = {};
  for (const code of [...codes].sort()) {
    const status = ERROR_STATUS[code];
    byStatus[status] = byStatus[status] === undefined ? code : `${byStatus[status]}, ${code}`;
  }
  return {
    openapi: {
      method: route.method,
      path: route.path,
      summary: route.summary,
      tags: [...route.tags],
      protect: true,
      errorResponses: byStatus,
      ...(headers ? { requestHeaders: headers } : {}),
    },
  };
}

/** The longest `Prefer: wait=N` honoured, in seconds (agents' clients give up after about 60 s). */
export const MAX_PREFER_WAIT_SECONDS = 60;
/** The longest `Cancel-After`, in seconds (a day). */
export const MAX_CANCEL_AFTER_SECONDS = 86_400;

function headerError(header: string, message: string): AppError {
  return new AppError("VALIDATION_ERROR", `Invalid ${header} header`, {
    issues: [{ code: "custom", path: [header], message }],
  });
}

/**
 * `Prefer: respond-async` (202 at once) or `Prefer: wait=N` (0 ≤ N ≤ 60: the result if it finishes
 * within N seconds, else 202), with an optional `Cancel-After: S`. Null: no asynchronous preference,
 * the synchronous execute as always (other preferences are ignored, as RFC 7240 allows).
 */
export function asyncOptionsOf(ctx: Context): AsyncOptions | null {
  if (ctx.prefer === undefined) return null;
  let respondAsync = false;
  let waitSeconds: number | undefined;
  for (const part of ctx.prefer.split(",")) {
    const [name = "", value] = part
      .trim()
      .split("=", 2)
      .map((piece) => piece.trim());
    const token = name.toLowerCase();
    if (token === "respond-async") respondAsync = true;
    else if (token === "wait") {
      if (value === undefined || !/^\d{1,5}$/.test(value) || Number(value) > MAX_PREFER_WAIT_SECONDS) {
        throw headerError("Prefer", `wait must be an integer from 0 to ${MAX_PREFER_WAIT_SECONDS}`);
      }
      waitSeconds = Number(value);
    }
  }
  if (!respondAsync && waitSeconds === undefined) return null;
  const options: AsyncOptions = { waitMs: (waitSeconds ?? 0) * 1000 };
  if (ctx.cancelAfter !== undefined) {
    const value = ctx.cancelAfter.trim();
    if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > MAX_CANCEL_AFTER_SECONDS) {
      throw headerError(
        "Cancel-After",
        `must be an integer number of seconds from 1 to ${MAX_CANCEL_AFTER_SECONDS}`,
      );
    }
    options.cancelAfterMs = Number(value) * 1000;
  }
  return options;
}
