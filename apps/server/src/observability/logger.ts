import type { Writable } from "node:stream";
import { type DestinationStream, type Logger, type LoggerOptions, pino } from "pino";

export type { Logger as PinoLogger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = "json" | "pretty";

/**
 * Keys whose values never reach a log line, wherever a caller or an error puts them (top level, one
 * or two levels down: `headers.authorization`, `err.details.clientSecret`). Card data never reaches
 * the server (Stripe Checkout holds it); the card keys are here in case an upstream echoes some.
 */
const SECRET_KEYS = [
  "authorization",
  "cookie",
  "set-cookie",
  "token",
  "accessToken",
  "secret",
  "clientSecret",
  "client_secret",
  "signingSecret",
  "signingKey",
  "webhookSecret",
  "secretKey",
  "apiKey",
  "password",
  "card",
  "cardNumber",
  "cvc",
];
export const REDACTED_PATHS = SECRET_KEYS.flatMap((key) => {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const join = (prefix: string) => (segment.startsWith("[") ? `${prefix}${segment}` : `${prefix}.${segment}`);
  return [segment, join("*"), join("*.*")];
});

export interface LoggerSettings {
  level: LogLevel;
  /** Where lines go; default stdout. Tests pass a stream to read them back. */
  destination?: DestinationStream | Writable;
  /** Fields on every line (e.g. `service`). */
  base?: Record<string, unknown>;
}

/** The server's one logger: JSON lines, ISO times, secrets redacted, `err` serialized with its cause. */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: settings.base ?? { service: "spell" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/**
 * Standard output as the logger's destination: asynchronous writes (a slow log reader never stalls
 * a request), or pino-pretty's coloured lines for a person at a terminal when it is installed.
 */
export async function logDestination(format: LogFormat): Promise<DestinationStream> {
  if (format === "pretty") {
    try {
      const { default: pretty } = await import("pino-pretty");
      return pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname,service" });
    } catch {
      // Not installed (a production image without dev tooling): JSON lines are still readable.
    }
  }
  return pino.destination({ dest: 1, sync: false });
}
