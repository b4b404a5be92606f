import { z } from "zod";

/**
 * Every error code Spell can answer with, and its HTTP status. One table: the REST layer, the tRPC
 * layer, the SDK and the OpenAPI document all read it, so a code never changes status by transport.
 */
export const ERROR_STATUS = {
  /** The request body or parameters failed schema validation; `details.issues` lists zod issues. */
  VALIDATION_ERROR: 400,
  /** The request body is not valid JSON. */
  MALFORMED_JSON: 400,
  /** No bearer token, or it failed verification; `details.reason` says why. */
  UNAUTHORIZED: 401,
  /** A priced spell and no saved payment method; call `billing/checkout-url` first. */
  PAYMENT_METHOD_REQUIRED: 402,
  /** The card was declined; `details.declineCode` carries Stripe's decline code. */
  BILLING_FAILED: 402,
  /** The payment needs the customer (3-D Secure); finish it, then call `billing/confirm-intent`. */
  PAYMENT_REQUIRES_ACTION: 402,
  /**
   * Prepaid mode: the balance does not cover the price; `details.missing` (micros), `balance`,
   * `price`, `currency`. Nothing ran; top up with `billing/top-up`.
   */
  INSUFFICIENT_BALANCE: 402,
  /**
   * A spend cap refused the call before anything ran: `details.limit` (`call`, `day`, `month`, `token`),
   * `details.max` and `details.spent` (micros, or minor units for `call`), `details.resetsAt` (ISO 8601).
   */
  SPEND_LIMIT_REACHED: 402,
  /** The caller is banned: nothing is loaded, charged or run. */
  USER_BANNED: 403,
  /** The caller lacks the required role (admin routes) or does not own the resource. */
  FORBIDDEN: 403,
  /** The spell exists but its visibility does not admit the caller. */
  VISIBILITY_DENIED: 403,
  /** No spell with that slug. */
  SPELL_NOT_FOUND: 404,
  /** Unknown route or resource. */
  NOT_FOUND: 404,
  /**
   * The spell was unpublished by its author or an admin: it cannot run until it is published or
   * enabled again; its history and records are kept. `details.spell`. 404 rather than 410: every
   * code keeps a tRPC code of the same status, and tRPC has no 410.
   */
  SPELL_DISABLED: 404,
  /** The HTTP method is not allowed on this route. */
  METHOD_NOT_ALLOWED: 405,
  /** The request did not arrive in time (headers or body too slow); the connection is closed. */
  REQUEST_TIMEOUT: 408,
  /** The idempotency key was used before with a different spell or input. */
  IDEMPOTENCY_CONFLICT: 409,
  /**
   * An asynchronous execution was canceled by its owner or reached its `Cancel-After` deadline
   * before it started (`details.reason`: `canceled` | `deadline`); its payment was released.
   */
  EXECUTION_CANCELED: 409,
  /** The request body exceeds the configured limit. */
  PAYLOAD_TOO_LARGE: 413,
  /** The request body is not `application/json`, or its `Content-Encoding` is not supported. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** The request's headers are larger than the server accepts (raised by the HTTP parser). */
  HEADERS_TOO_LARGE: 431,
  /**
   * Too many requests for this user or spell in the window; `details.retryAfterSeconds`, `details.policy`.
   * The response carries `Retry-After`, `RateLimit` and `RateLimit-Policy`.
   */
  RATE_LIMITED: 429,
  /** A published artifact was refused (bad wasm, forbidden imports, unknown builtin, bad endpoint). */
  ARTIFACT_INVALID: 422,
  /** A priced spell below the payment provider's minimum charge for its currency. */
  PRICE_BELOW_MINIMUM: 422,
  /** Unexpected failure; nothing internal is disclosed. */
  INTERNAL_ERROR: 500,
  /** Billing is not configured on this server. */
  BILLING_NOT_CONFIGURED: 501,
  /** The artifact failed: trap, non-zero exit, non-JSON output, upstream error. */
  RUNTIME_ERROR: 502,
  /** The artifact exceeded its memory limit. */
  RUNTIME_MEMORY_LIMIT: 502,
  /** The artifact wrote more output than allowed. */
  RUNTIME_OUTPUT_LIMIT: 502,
  /** A dependency (database, payment provider) is unavailable. */
  SERVICE_UNAVAILABLE: 503,
  /** The artifact exceeded its wall-clock limit. */
  RUNTIME_TIMEOUT: 504,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];
export const ZErrorCode = z.enum(ERROR_CODES);

export type ErrorDetails = Record<string, unknown>;

/** The one error type of Spell: a stable code, a human message and structured details. */
export class AppError extends Error {
  override readonly name = "AppError";
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { ok: false, error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** Turns anything thrown into an AppError without leaking internals of unexpected failures. */
export function toAppError(value: unknown): AppError {
  if (isAppError(value)) return value;
  return new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: value });
}

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

export const ZErrorBody = z
  .object({
    ok: z.literal(false),
    error: z.object({
      code: ZErrorCode,
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .meta({ id: "ErrorBody", description: "Every error on REST and tRPC has this shape." });

export type ErrorBody = z.infer<typeof ZErrorBody>;
