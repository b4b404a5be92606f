import type { AppError } from "@spell/contracts";
import type { PinoLogger } from "./observability/logger.ts";

/** What a failure's log line carries besides the error itself (the request it belongs to). */
export interface LogFields {
  requestId?: string | undefined;
  /** The Spell error code, so failures can be counted by kind. */
  code?: string;
}

/**
 * Where server-side failures go. The server writes them through pino (`errorSinkOf`); tests pass
 * their own to capture them, which is why this stays a one-method surface.
 */
export interface Logger {
  error(message: string, error: unknown, fields?: LogFields): void;
}

/** The error sink over a pino logger: one JSON line with the error (and its cause) under `err`. */
export function errorSinkOf(log: PinoLogger): Logger {
  return {
    error(message, error, fields) {
      log.error({ ...fields, err: error }, message);
    },
  };
}

/**
 * Only failures on our side (5xx) are logged as errors; 4xx are the caller's and are answered, not
 * logged. BILLING_NOT_CONFIGURED (501) is a deliberate answer of a server without billing, not a failure.
 */
export function logIfServerError(logger: Logger, error: AppError, where: string, fields?: LogFields): void {
  if (error.status >= 500 && error.code !== "BILLING_NOT_CONFIGURED")
    logger.error(`${where}: ${error.code} ${error.message}`, error.cause ?? error, {
      ...fields,
      code: error.code,
    });
}
