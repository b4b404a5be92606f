import type { AppError } from "@spell/contracts";

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
