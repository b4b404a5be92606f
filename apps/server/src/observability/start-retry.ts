import { setTimeout as sleep } from "node:timers/promises";

/** Errors that mean "not reachable yet" (a database still starting, DNS not there yet), worth waiting out. */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "57P03", // cannot_connect_now: the database system is starting up
]);

function errorCodes(error: unknown): string[] {
  if (typeof error !== "object" || error === null) return [];
  const codes: string[] = [];
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") codes.push(code);
  // Node reports a host with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError.
  const inner = (error as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const each of inner) codes.push(...errorCodes(each));
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined && cause !== error) codes.push(...errorCodes(cause));
  return codes;
}

export function isTransientConnectError(error: unknown): boolean {
  return errorCodes(error).some((code) => TRANSIENT_CODES.has(code));
}

/** The database could not be reached at start; its message is one line, fit for an operator. */
export class DatabaseUnavailableError extends Error {
  override readonly name = "DatabaseUnavailableError";
}

export interface RetryOptions {
  /** Attempts after the first. */
  retries: number;
  /** First wait; each next one doubles, up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  isRetryable?: (error: unknown) => boolean;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  sleep?: (ms: number) => Promise<unknown>;
}

/** Runs `attempt` until it succeeds, a non-retryable error comes, or the retries are spent. */
export async function retryWithBackoff<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 5000;
  const retryable = options.isRetryable ?? isTransientConnectError;
  const wait = options.sleep ?? sleep;
  for (let tried = 0; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= options.retries || !retryable(error)) throw error;
      const delay = Math.min(max, base * 2 ** tried);
      options.onRetry?.(tried + 1, delay, error);
      await wait(delay);
    }
  }
}

/** `host:port/database` of a connection URL, never its password. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`;
  } catch {
    return "the configured database";
  }
}

/** The first error code found (e.g. ECONNREFUSED), for a one-line message. */
export function connectErrorCode(error: unknown): string {
  return (
    errorCodes(error)[0] ?? (error instanceof Error ? (error.message.split("\n")[0] ?? "error") : "error")
  );
}
