import { AppError, ERROR_STATUS, type ErrorCode, isAppError } from "@spell/contracts";
import type { TRPCError } from "@trpc/server";
import { type TRPC_ERROR_CODE_KEY, TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";

/**
 * The tRPC code with the same HTTP status as each of ours, so both transports answer one status per
 * code. Table-driven: adding a code to the contracts table fails the typecheck until it is mapped.
 */
const TRPC_CODE_BY_STATUS: Record<(typeof ERROR_STATUS)[ErrorCode], TRPC_ERROR_CODE_KEY> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  402: "PAYMENT_REQUIRED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_SUPPORTED",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  422: "UNPROCESSABLE_CONTENT",
  500: "INTERNAL_SERVER_ERROR",
  501: "NOT_IMPLEMENTED",
  502: "BAD_GATEWAY",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

export function trpcCodeOf(code: ErrorCode): TRPC_ERROR_CODE_KEY {
  return TRPC_CODE_BY_STATUS[ERROR_STATUS[code]];
}

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

/** Errors raised by tRPC or trpc-to-openapi themselves, before or around our procedures. */
const FRAMEWORK_ERRORS: Partial<Record<TRPC_ERROR_CODE_KEY, [ErrorCode, string]>> = {
  PARSE_ERROR: ["MALFORMED_JSON", "The request body is not valid JSON"],
  NOT_FOUND: ["NOT_FOUND", "No such route"],
  METHOD_NOT_SUPPORTED: ["METHOD_NOT_ALLOWED", "Method not allowed on this route"],
  PAYLOAD_TOO_LARGE: ["PAYLOAD_TOO_LARGE", "The request body is too large"],
  UNSUPPORTED_MEDIA_TYPE: ["UNSUPPORTED_MEDIA_TYPE", "The request body must be application/json"],
  UNAUTHORIZED: ["UNAUTHORIZED", "Unauthorized"],
  FORBIDDEN: ["FORBIDDEN", "Forbidden"],
};

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
  const known = FRAMEWORK_ERRORS[error.code];
  if (known !== undefined) return new AppError(known[0], known[1], {});
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

export interface Logger {
  error(message: string, error: unknown): void;
}

export const consoleLogger: Logger = {
  error(message, error) {
    console.error(message, error);
  },
};

/**
 * Only failures on our side (5xx) are logged as errors; 4xx are the caller's and are answered, not
 * logged. BILLING_NOT_CONFIGURED (501) is a deliberate answer of a server without billing, not a failure.
 */
export function logIfServerError(logger: Logger, error: AppError, where: string): void {
  if (error.status >= 500 && error.code !== "BILLING_NOT_CONFIGURED")
    logger.error(`${where}: ${error.code} ${error.message}`, error.cause ?? error);
}
