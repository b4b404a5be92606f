import {
  AppError,
  FRAMEWORK_TRPC_CODES,
  isAppError,
  SPELL_CODE_BY_TRPC_CODE,
  type TrpcErrorCodeKey,
  trpcCodeOf,
} from "@spell/contracts";
import type { TRPCError } from "@trpc/server";
import { type TRPC_ERROR_CODE_KEY, TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";

// The contracts spell tRPC's codes out (they have no tRPC dependency): a code tRPC renames fails here.
true satisfies TrpcErrorCodeKey extends TRPC_ERROR_CODE_KEY ? true : false;

export { trpcCodeOf };

interface IssueLike {
  code?: unknown;
  path?: unknown;
  message?: unknown;
}

function hasIssues(value: unknown): value is { issues: IssueLike[] } {
  return typeof value === "object" && value !== null && Array.isArray((value as { issues?: unknown }).issues);
}

/** Zod issues as plain JSON (paths can hold symbols or numbers; keep only what callers need). */
function toIssues(issues: IssueLike[]): Array<{ code: string; path: (string | number)[]; message: string }> {
  return issues.map((issue) => ({
    code: typeof issue.code === "string" ? issue.code : "custom",
    path: Array.isArray(issue.path)
      ? issue.path.map((part) => (typeof part === "number" ? part : String(part)))
      : [],
    message: typeof issue.message === "string" ? issue.message : "Invalid value",
  }));
}

/**
 * The AppError a tRPC error stands for: our own error when a procedure threw one, zod's input
 * issues as VALIDATION_ERROR, the framework's own refusals by their meaning, and anything else as
 * INTERNAL_ERROR without a word about what went wrong inside.
 */
export function appErrorFromTRPC(error: TRPCError): AppError {
  const cause = error.cause;
  if (isAppError(cause)) return cause;
  if (error.code === "BAD_REQUEST") {
    // tRPC reads its body lazily, so a JSON syntax error surfaces as the input step's BAD_REQUEST.
    if (cause instanceof SyntaxError)
      return new AppError("MALFORMED_JSON", "The request body is not valid JSON", {});
    if (hasIssues(cause)) {
      return new AppError("VALIDATION_ERROR", "Input validation failed", { issues: toIssues(cause.issues) });
    }
    return new AppError("VALIDATION_ERROR", error.message, {});
  }
  if ((FRAMEWORK_TRPC_CODES as readonly string[]).includes(error.code)) {
    const [code, message] = SPELL_CODE_BY_TRPC_CODE[error.code as TrpcErrorCodeKey];
    return new AppError(code, message, {});
  }
  return new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: error });
}

/**
 * The body tRPC itself would answer with, for refusals made before tRPC sees the request: tRPC
 * clients find the code and details in `error.data`, as for every other error.
 */
export function trpcErrorBody(error: AppError): object {
  return {
    error: {
      message: error.message,
      code: TRPC_ERROR_CODES_BY_KEY[trpcCodeOf(error.code)],
      data: { code: error.code, httpStatus: error.status, details: error.details },
    },
  };
}
