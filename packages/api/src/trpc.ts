import {
  AppError,
  ERROR_STATUS,
  type ErrorCode,
  type ErrorDetails,
  type ProcedureContract,
  ZIdempotencyKey,
} from "@spell/contracts";
import type { Access, Engine } from "@spell/engine";
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
}

/** What tRPC clients find in `error.data`: the same code and details as the REST error body. */
export interface SpellErrorData {
  code: ErrorCode;
  httpStatus: number;
  details: ErrorDetails;
  path?: string;
}

const t = initTRPC
  .context<Context>()
  .meta<OpenApiMeta>()
  .create({
    // Stacks never leave the process, whatever NODE_ENV says.
    isDev: false,
    errorFormatter({ error, shape }) {
      const appError = appErrorFromTRPC(error);
      const data: SpellErrorData = {
        code: appError.code,
        // tRPC answers with data.httpStatus when set: one status per code on both transports.
        httpStatus: appError.status,
        details: appError.details,
      };
      if (shape.data.path !== undefined) data.path = shape.data.path;
      return { code: TRPC_ERROR_CODES_BY_KEY[trpcCodeOf(appError.code)], message: appError.message, data };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** No caller required (execute: the engine verifies the token itself, as the first pipeline step). */
export const publicProcedure = t.procedure;

/**
 * A procedure whose caller the engine admits for `access` before the input is read (see
 * `Engine.authenticate`); the router decides nothing itself. The engine's operations check their
 * own access as well, so a transport that skipped this could still not get past them.
 */
function authenticatedProcedure(access: Access) {
  return t.procedure.use(async ({ ctx, next }) => {
    const session = await ctx.engine.authenticate(ctx.authorization, access);
    return next({ ctx: { session } });
  });
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
