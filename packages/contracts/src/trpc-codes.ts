import { ERROR_STATUS, type ErrorCode } from "./errors.ts";

/**
 * The one table between tRPC's error codes and Spell's, read by the router (to answer) and by the
 * SDK (to understand an answer that did not carry our code). tRPC's codes are spelled out here so
 * the contracts need no tRPC dependency; the router's typecheck holds them to tRPC's own list.
 */
export type TrpcErrorCodeKey =
  | "PARSE_ERROR"
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "PAYMENT_REQUIRED"
  | "TIMEOUT"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "METHOD_NOT_SUPPORTED"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "UNPROCESSABLE_CONTENT"
  | "TOO_MANY_REQUESTS"
  | "INTERNAL_SERVER_ERROR"
  | "NOT_IMPLEMENTED"
  | "BAD_GATEWAY"
  | "SERVICE_UNAVAILABLE"
  | "GATEWAY_TIMEOUT";

/**
 * The tRPC code with the same HTTP status as each of ours, so both transports answer one status per
 * code. Adding a status to the error table fails the typecheck until it is mapped here.
 */
export const TRPC_CODE_BY_STATUS: Record<(typeof ERROR_STATUS)[ErrorCode], TrpcErrorCodeKey> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  402: "PAYMENT_REQUIRED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  405: "METHOD_NOT_SUPPORTED",
  408: "TIMEOUT",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  // tRPC has no 431; the code is only ever raised by the HTTP parser, before tRPC sees a request.
  431: "BAD_REQUEST",
  422: "UNPROCESSABLE_CONTENT",
  429: "TOO_MANY_REQUESTS",
  500: "INTERNAL_SERVER_ERROR",
  501: "NOT_IMPLEMENTED",
  502: "BAD_GATEWAY",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

export function trpcCodeOf(code: ErrorCode): TrpcErrorCodeKey {
  return TRPC_CODE_BY_STATUS[ERROR_STATUS[code]];
}

/**
 * What a tRPC code means when tRPC itself raised it (before or around our procedures), or when an
 * answer carries only tRPC's code (a proxy, an older server): our code and the message to show.
 */
export const SPELL_CODE_BY_TRPC_CODE: Record<TrpcErrorCodeKey, readonly [ErrorCode, string]> = {
  PARSE_ERROR: ["MALFORMED_JSON", "The request body is not valid JSON"],
  BAD_REQUEST: ["VALIDATION_ERROR", "Invalid request"],
  UNAUTHORIZED: ["UNAUTHORIZED", "Unauthorized"],
  PAYMENT_REQUIRED: ["PAYMENT_METHOD_REQUIRED", "Payment required"],
  FORBIDDEN: ["FORBIDDEN", "Forbidden"],
  NOT_FOUND: ["NOT_FOUND", "No such route"],
  METHOD_NOT_SUPPORTED: ["METHOD_NOT_ALLOWED", "Method not allowed on this route"],
  TIMEOUT: ["REQUEST_TIMEOUT", "The request did not arrive in time"],
  CONFLICT: ["IDEMPOTENCY_CONFLICT", "Conflict"],
  PAYLOAD_TOO_LARGE: ["PAYLOAD_TOO_LARGE", "The request body is too large"],
  UNSUPPORTED_MEDIA_TYPE: ["UNSUPPORTED_MEDIA_TYPE", "The request body must be application/json"],
  UNPROCESSABLE_CONTENT: ["ARTIFACT_INVALID", "Unprocessable content"],
  TOO_MANY_REQUESTS: ["RATE_LIMITED", "Too many requests"],
  INTERNAL_SERVER_ERROR: ["INTERNAL_ERROR", "Internal error"],
  NOT_IMPLEMENTED: ["BILLING_NOT_CONFIGURED", "Not implemented"],
  BAD_GATEWAY: ["RUNTIME_ERROR", "Bad gateway"],
  SERVICE_UNAVAILABLE: ["SERVICE_UNAVAILABLE", "Service unavailable"],
  GATEWAY_TIMEOUT: ["RUNTIME_TIMEOUT", "Gateway timeout"],
};

/** Codes raised only below tRPC (by the HTTP parser): no tRPC code carries their status. */
export const HTTP_ONLY_ERROR_CODES: readonly ErrorCode[] = ["HEADERS_TOO_LARGE"];

/** tRPC's codes that only tRPC itself raises and whose meaning is certain without our `data.code`. */
export const FRAMEWORK_TRPC_CODES: readonly TrpcErrorCodeKey[] = [
  "PARSE_ERROR",
  "NOT_FOUND",
  "METHOD_NOT_SUPPORTED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "UNAUTHORIZED",
  "FORBIDDEN",
];
