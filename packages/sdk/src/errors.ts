import {
  ERROR_CODES,
  ERROR_STATUS,
  type ErrorCode,
  type ErrorDetails,
  SPELL_CODE_BY_TRPC_CODE,
  type TrpcErrorCodeKey,
} from "@spell/contracts";
import { TRPCClientError } from "@trpc/client";

const KNOWN_CODES = new Set<string>(ERROR_CODES);

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && KNOWN_CODES.has(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Every failure of a Spell call: a stable `code` from the contracts' table, the HTTP `status` and the
 * server's `details`. `status` is 0 when no response arrived (`details.network` is then true).
 */
export class SpellError extends Error {
  override readonly name = "SpellError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string,
    options: { status?: number; details?: ErrorDetails; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.details = options.details ?? {};
  }

  /** True when the server was never reached or its answer was unreadable. */
  get isNetworkError(): boolean {
    return this.details.network === true;
  }
}

export function isSpellError(value: unknown): value is SpellError {
  return value instanceof SpellError;
}

/** tRPC's own code, for answers that did not go through the API's error formatter (a proxy, an older server). */
function trpcFallback(code: unknown): ErrorCode | undefined {
  if (typeof code !== "string" || !Object.hasOwn(SPELL_CODE_BY_TRPC_CODE, code)) return undefined;
  return SPELL_CODE_BY_TRPC_CODE[code as TrpcErrorCodeKey][0];
}

function responseStatus(meta: Record<string, unknown> | undefined): number | undefined {
  const response = meta?.response;
  if (isRecord(response) && typeof response.status === "number") return response.status;
  return undefined;
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return "UNAUTHORIZED";
  if (status === 403) return "FORBIDDEN";
  if (status === 404) return "NOT_FOUND";
  if (status === 413) return "PAYLOAD_TOO_LARGE";
  if (status === 408) return "REQUEST_TIMEOUT";
  if (status === 431) return "HEADERS_TOO_LARGE";
  if (status === 503 || status === 502 || status === 504) return "SERVICE_UNAVAILABLE";
  return "INTERNAL_ERROR";
}

/** The innermost cause's message: `fetch failed` alone does not say "connection refused". */
function rootReason(error: Error): string {
  let current: unknown = error;
  let reason = error.message;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    reason = current.message || reason;
    current = current.cause;
  }
  return reason;
}

/**
 * Turns whatever a tRPC call threw into a SpellError; a SpellError passes through unchanged.
 * `baseUrl`, when given, is named in network failures.
 */
export function toSpellError(error: unknown, baseUrl?: string): SpellError {
  if (error instanceof SpellError) return error;
  if (!(error instanceof TRPCClientError)) {
    const message = error instanceof Error ? error.message : String(error);
    return new SpellError("INTERNAL_ERROR", message, { status: 0, cause: error });
  }

  const data: unknown = error.data;
  if (isRecord(data)) {
    const details = isRecord(data.details) ? data.details : {};
    const httpStatus = typeof data.httpStatus === "number" ? data.httpStatus : undefined;
    const code = isErrorCode(data.code)
      ? data.code
      : (trpcFallback(data.code) ?? codeForStatus(httpStatus ?? 500));
    return new SpellError(code, error.message, {
      status: httpStatus ?? ERROR_STATUS[code],
      details,
      cause: error,
    });
  }

  if (error.cause instanceof SpellError) return error.cause;
  // No error shape: the request never got a tRPC answer (connection refused, DNS, a non-JSON page).
  const status = responseStatus(error.meta);
  const reason = rootReason(error);
  const where = baseUrl === undefined ? {} : { baseUrl };
  if (status === undefined) {
    const at = baseUrl === undefined ? "" : ` at ${baseUrl}`;
    return new SpellError("SERVICE_UNAVAILABLE", `Spell API unreachable${at}: ${reason}`, {
      status: 0,
      details: { network: true, reason, ...where },
      cause: error,
    });
  }
  return new SpellError(codeForStatus(status), `Unexpected answer from the Spell API (HTTP ${status})`, {
    status,
    details: { network: true, reason, ...where },
    cause: error,
  });
}
