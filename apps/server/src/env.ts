import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseTrustedIssuers, type TrustedIssuerConfig } from "@spell/auth";
import { DEV_ISSUER } from "@spell/auth/dev";
import { parseStripeApiBase } from "@spell/billing";
import { DEFAULT_JSON_BOUNDS } from "@spell/contracts";
import { z } from "zod";
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from "./http/limits.ts";
import { parseRateLimitRule, type RateLimitConfig } from "./http/rate-limit.ts";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "./observability/logger.ts";

/** The repository root: `.spell/` (embedded database, dev issuer key) lives there by default. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export const DEFAULT_PORT = 8787;
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
export const DEFAULT_DB_START_RETRIES = 10;

/**
 * Settings that may instead be read from a file named by `<NAME>_FILE` (Docker and Kubernetes
 * secrets are files): the JSON ones, which are awkward in one environment variable, and the secrets.
 */
export const FILE_VARIABLES = [
  "SPELL_TRUSTED_ISSUERS",
  "SPELL_API_SECRETS",
  "SPELL_SIGNING_KEY",
  "SPELL_METRICS_TOKEN",
  "DATABASE_URL",
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "SPELL_WEBHOOK_SECRET",
] as const;

/** Express's `trust proxy`: off, on (every hop), a hop count, or addresses/subnets/names. */
export type TrustProxy = boolean | number | string;

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === "" ? undefined : value.trim()));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const optionalPositiveInt = z.preprocess(
  (value) => (value === undefined || value === "" ? undefined : value),
  z.coerce.number().int().positive().optional(),
);

/** A JSON value held in one variable; the error names the variable and never echoes the value. */
function jsonOf<T extends z.ZodType>(name: string, schema: T) {
  return optionalString.transform((text, ctx): z.output<T> | undefined => {
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: "custom", message: `${name} is not valid JSON` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      ctx.addIssue({ code: "custom", message: `${name}: ${z.prettifyError(parsed.error)}` });
      return z.NEVER;
    }
    return parsed.data;
  });
}

const ZTrustedIssuers = optionalString.transform((text, ctx): TrustedIssuerConfig[] => {
  if (text === undefined) return [];
  try {
    return parseTrustedIssuers(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `SPELL_TRUSTED_ISSUERS: ${(error as Error).message}` });
    return z.NEVER;
  }
});

const flag = optionalString.transform((text, ctx): boolean | undefined => {
  if (text === undefined) return undefined;
  const value = text.toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  ctx.addIssue({ code: "custom", message: `expected 1/0 or true/false, got "${text}"` });
  return z.NEVER;
});

const ZTrustProxy = optionalString.transform((text): TrustProxy => {
  if (text === undefined || text.toLowerCase() === "false") return false;
  if (text.toLowerCase() === "true") return true;
  return /^\d+$/.test(text) ? Number(text) : text;
});

const commaList = optionalString.transform((text) =>
  text === undefined
    ? []
    : text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
);

/** `<points>/<seconds>` (see http/rate-limit.ts); unset: no limit. */
const rateLimitRule = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    try {
      return parseRateLimitRule(value);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });

/** A Standard Webhooks secret: `whsec_` and the base64 of at least 24 random bytes. */
const webhookSecret = optionalString.superRefine((value, ctx) => {
  if (value === undefined) return;
  const key = value.startsWith("whsec_") ? value.slice("whsec_".length) : "";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, "base64").length < 24) {
    ctx.addIssue({
      code: "custom",
      message: "SPELL_WEBHOOK_SECRET must be whsec_ followed by the base64 of at least 24 random bytes",
    });
  }
});

const ZEnvSource = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_PORT),
  HOST: optionalString.transform((value) => value ?? "127.0.0.1"),
  DATABASE_URL: optionalString,
  SPELL_DATA_DIR: optionalString,
  SPELL_TRUSTED_ISSUERS: ZTrustedIssuers,
  SPELL_JWT_AUDIENCE: optionalString.transform((value) => value ?? "spell"),
  SPELL_TOKEN_CACHE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  SPELL_BODY_LIMIT: positiveInt(DEFAULT_BODY_LIMIT),
  SPELL_MAX_JSON_DEPTH: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_JSON_BOUNDS.maxDepth),
  SPELL_HEADERS_TIMEOUT_MS: positiveInt(DEFAULT_HTTP_LIMITS.headersTimeoutMs),
  SPELL_REQUEST_TIMEOUT_MS: positiveInt(DEFAULT_HTTP_LIMITS.requestTimeoutMs),
  SPELL_KEEP_ALIVE_TIMEOUT_MS: positiveInt(DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs),
  SPELL_MAX_CONNECTIONS_PER_CLIENT: positiveInt(DEFAULT_HTTP_LIMITS.maxConnectionsPerClient),
  SPELL_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(DEFAULT_SHUTDOWN_GRACE_MS),
  SPELL_API_ALLOWED_HOSTS: commaList,
  SPELL_API_SECRETS: jsonOf("SPELL_API_SECRETS", z.record(z.string(), z.string())),
  SPELL_SIGNING_KEY: optionalString,
  SPELL_WEBHOOK_SECRET: webhookSecret,
  SPELL_WEBHOOK_ALLOWED_HOSTS: commaList,
  SPELL_WASM_MEMORY_MB: optionalPositiveInt,
  SPELL_WASM_TIMEOUT_MS: optionalPositiveInt,
  SPELL_WASM_MAX_TIMEOUT_MS: optionalPositiveInt,
  SPELL_WASM_OUTPUT_BYTES: optionalPositiveInt,
  SPELL_WASM_MAX_MODULE_BYTES: optionalPositiveInt,
  SPELL_WASM_WORKERS: optionalPositiveInt,
  SPELL_RUN_JOB_EXPIRY_S: optionalPositiveInt,
  SPELL_RUN_STALE_MS: optionalPositiveInt,
  SPELL_RUN_MAINTENANCE_S: optionalPositiveInt,
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_API_BASE: optionalString,
  SPELL_BILLING_RETURN_ORIGINS: commaList,
  SPELL_BILLING: optionalString.pipe(z.enum(["stripe", "local", "none"]).optional()),
  SPELL_BILLING_MODE: optionalString.pipe(z.enum(["per_use", "prepaid"]).default("per_use")),
  SPELL_PREPAID_CURRENCY: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z]{3}$/)
      .default("usd"),
  ),
  SPELL_RATE_LIMIT_USER: optionalString.pipe(rateLimitRule),
  SPELL_RATE_LIMIT_SPELL: optionalString.pipe(rateLimitRule),
  SPELL_PUBLIC_URL: optionalString,
  SPELL_LOG_LEVEL: optionalString.pipe(z.enum(LOG_LEVELS).optional()),
  SPELL_LOG_FORMAT: optionalString.pipe(z.enum(["json", "pretty"]).optional()),
  SPELL_METRICS_PORT: z.preprocess(
    (value) => (value === undefined || value === "" ? undefined : value),
    z.coerce.number().int().min(0).max(65535).optional(),
  ),
  SPELL_METRICS_HOST: optionalString,
  SPELL_METRICS_TOKEN: optionalString,
  SPELL_TRUST_PROXY: ZTrustProxy,
  SPELL_SEED_DEMOS: flag,
  SPELL_DB_START_RETRIES: z.coerce.number().int().min(0).max(1000).default(DEFAULT_DB_START_RETRIES),
});

export type BillingMode = "stripe" | "local" | "none";
export type StripeApiBase = ReturnType<typeof parseStripeApiBase>;

export type EnvSource = Record<string, string | undefined>;

export interface Env {
  nodeEnv: "development" | "test" | "production";
  production: boolean;
  port: number;
  host: string;
  /** Unset: an embedded Postgres under `dataDir/db` (never in production). */
  databaseUrl: string | undefined;
  dataDir: string;
  trustedIssuers: TrustedIssuerConfig[];
  /** Outside production the dev issuer from `dataDir` is trusted too. */
  trustDevIssuer: boolean;
  jwtAudience: string;
  /** Verified tokens remembered per process (0: verify the signature on every request). */
  tokenCacheSize: number;
  bodyLimit: number;
  /** Deepest JSON nesting accepted in inputs, configs, metadata and outputs. */
  jsonMaxDepth: number;
  http: HttpLimits;
  /** How long SIGTERM waits for in-flight requests and runs before closing everything. */
  shutdownGraceMs: number;
  api: { allowedHosts: string[]; secrets: Record<string, string>; signingKey: string | undefined };
  /** Signed webhooks of asynchronous runs (issue 13). */
  webhooks: {
    /**
     * `SPELL_WEBHOOK_SECRET` (Standard Webhooks `whsec_…`), one per deployment; unset outside
     * production: generated once under `dataDir`; unset in production: webhooks are refused (503).
     */
    secret: string | undefined;
    /** Production: receivers must be https. */
    requireHttps: boolean;
    /**
     * `SPELL_WEBHOOK_ALLOWED_HOSTS`: internal hosts (`host` / `host:port`) admitted anyway, for
     * tests' loopback receivers; refused in production.
     */
    allowedHosts: string[];
  };
  /** Unset values fall back to the wasm runtime's defaults. */
  wasm: {
    memoryMb: number | undefined;
    timeoutMs: number | undefined;
    maxTimeoutMs: number | undefined;
    outputBytes: number | undefined;
    maxModuleBytes: number | undefined;
    workers: number | undefined;
  };
  /**
   * Asynchronous runs' recovery after a worker process died (unset: the defaults). A job active
   * longer than `jobExpirySeconds` (default 900) is retried; the retry fails a claimed row older
   * than `staleRunningMs` (default 600 000, must be below the expiry) as `interrupted` and releases
   * its money; `maintenanceIntervalSeconds` (default 120) is how often expired jobs are looked for.
   */
  runs: {
    jobExpirySeconds: number | undefined;
    staleRunningMs: number | undefined;
    maintenanceIntervalSeconds: number | undefined;
  };
  /**
   * `stripe` when both Stripe keys are set, else `local` (the LOCAL TEST provider) outside
   * production, else `none` (priced spells answer BILLING_NOT_CONFIGURED); `SPELL_BILLING` overrides.
   */
  billingMode: BillingMode;
  /**
   * `per_use` (default): one card charge per priced execute. `prepaid` (`SPELL_BILLING_MODE`): executes
   * are paid from a prepaid balance in `prepaidCurrency`, topped up through `billingMode`'s provider.
   */
  billingPlan: "per_use" | "prepaid";
  prepaidCurrency: string;
  /** Execute rate limits (`SPELL_RATE_LIMIT_USER`, `SPELL_RATE_LIMIT_SPELL`, `<points>/<seconds>`). */
  rateLimit: RateLimitConfig;
  stripe: {
    secretKey: string | undefined;
    webhookSecret: string | undefined;
    /** From `STRIPE_API_BASE`: a Stripe-compatible server instead of api.stripe.com. */
    apiBase: StripeApiBase | undefined;
  };
  /** Origins Checkout and the portal may return to; empty: the server's own origin (outside production). */
  billingReturnOrigins: string[];
  publicUrl: string | undefined;
  log: { level: LogLevel; format: LogFormat };
  metrics: {
    /** Set: `/metrics` is served on this port only (not on the API port). */
    port: number | undefined;
    host: string;
    /** Set: `/metrics` needs `Authorization: Bearer <token>`. */
    token: string | undefined;
    /** On the API port: outside production, or in production with a token. */
    onApiPort: boolean;
  };
  /** Express's `trust proxy` (`SPELL_TRUST_PROXY`): needed behind a load balancer for client addresses. */
  trustProxy: TrustProxy;
  /** Publish the demo spells at start: outside production, or with `SPELL_SEED_DEMOS=1`. */
  seedDemos: boolean;
  /** Attempts to reach the database at start beyond the first, with backoff, before giving up. */
  databaseStartRetries: number;
}

export interface ParseEnvOptions {
  /** Reads `<NAME>_FILE` files (tests replace it). */
  readFile?: (path: string) => string;
  /** Whether standard output is a terminal: pretty logs by default in development. */
  stdoutIsTTY?: boolean;
}

export class EnvError extends Error {
  override readonly name = "EnvError";
}

/**
 * Reads the configuration once. In production, anything the server cannot safely default is listed
 * in one error instead of failing later on the first request.
 */
export function parseEnv(source: EnvSource = process.env, options: ParseEnvOptions = {}): Env {
  const parsed = ZEnvSource.safeParse(withFileVariables(source, options.readFile ?? readSecretFile));
  if (!parsed.success) {
    // Custom messages name their variable already; the others get the variable's name in front.
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.join(".");
      return issue.code === "custom" && issue.message.includes(name)
        ? issue.message
        : `${name}: ${issue.message}`;
    });
    throw new EnvError(`Invalid configuration:\n  - ${lines.join("\n  - ")}`);
  }
  const raw = parsed.data;
  const production = raw.NODE_ENV === "production";

  if (production) {
    const missing: string[] = [];
    if (raw.SPELL_TRUSTED_ISSUERS.length === 0) missing.push("SPELL_TRUSTED_ISSUERS (at least one issuer)");
    if (raw.DATABASE_URL === undefined) missing.push("DATABASE_URL");
    if (raw.SPELL_SIGNING_KEY === undefined) missing.push("SPELL_SIGNING_KEY");
    if (raw.SPELL_WEBHOOK_ALLOWED_HOSTS.length > 0) {
      missing.push("SPELL_WEBHOOK_ALLOWED_HOSTS unset (internal webhook receivers are for tests only)");
    }
    if (raw.SPELL_TRUSTED_ISSUERS.some((issuer) => issuer.issuer === DEV_ISSUER)) {
      missing.push(`SPELL_TRUSTED_ISSUERS without the development issuer "${DEV_ISSUER}"`);
    }
    if (missing.length > 0) {
      throw new EnvError(
        `Missing configuration for NODE_ENV=production:\n  - ${missing.join("\n  - ")}\n` +
          "The development issuer and the embedded database are never used in production.",
      );
    }
  }

  // A retry after the expiry must find the interrupted row stale, or nothing would ever end it.
  const staleMs = raw.SPELL_RUN_STALE_MS ?? 600_000;
  const expiryMs = (raw.SPELL_RUN_JOB_EXPIRY_S ?? 900) * 1000;
  if (staleMs >= expiryMs) {
    throw new EnvError(
      `Invalid configuration:\n  - SPELL_RUN_STALE_MS (${staleMs}) must be below SPELL_RUN_JOB_EXPIRY_S (${expiryMs / 1000} s)`,
    );
  }
  const billing = billingSettings(raw, production);
  return {
    nodeEnv: raw.NODE_ENV,
    production,
    port: raw.PORT,
    host: raw.HOST,
    databaseUrl: raw.DATABASE_URL,
    dataDir: raw.SPELL_DATA_DIR === undefined ? join(REPO_ROOT, ".spell") : resolve(raw.SPELL_DATA_DIR),
    trustedIssuers: raw.SPELL_TRUSTED_ISSUERS,
    trustDevIssuer: !production,
    jwtAudience: raw.SPELL_JWT_AUDIENCE,
    tokenCacheSize: raw.SPELL_TOKEN_CACHE_SIZE,
    bodyLimit: raw.SPELL_BODY_LIMIT,
    jsonMaxDepth: raw.SPELL_MAX_JSON_DEPTH,
    http: {
      headersTimeoutMs: raw.SPELL_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: raw.SPELL_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: raw.SPELL_KEEP_ALIVE_TIMEOUT_MS,
      maxConnectionsPerClient: raw.SPELL_MAX_CONNECTIONS_PER_CLIENT,
    },
    shutdownGraceMs: raw.SPELL_SHUTDOWN_GRACE_MS,
    api: {
      allowedHosts: raw.SPELL_API_ALLOWED_HOSTS,
      secrets: raw.SPELL_API_SECRETS ?? {},
      signingKey: raw.SPELL_SIGNING_KEY,
    },
    webhooks: {
      secret: raw.SPELL_WEBHOOK_SECRET,
      requireHttps: production,
      allowedHosts: raw.SPELL_WEBHOOK_ALLOWED_HOSTS,
    },
    wasm: {
      memoryMb: raw.SPELL_WASM_MEMORY_MB,
      timeoutMs: raw.SPELL_WASM_TIMEOUT_MS,
      maxTimeoutMs: raw.SPELL_WASM_MAX_TIMEOUT_MS,
      outputBytes: raw.SPELL_WASM_OUTPUT_BYTES,
      maxModuleBytes: raw.SPELL_WASM_MAX_MODULE_BYTES,
      workers: raw.SPELL_WASM_WORKERS,
    },
    runs: {
      jobExpirySeconds: raw.SPELL_RUN_JOB_EXPIRY_S,
      staleRunningMs: raw.SPELL_RUN_STALE_MS,
      maintenanceIntervalSeconds: raw.SPELL_RUN_MAINTENANCE_S,
    },
    billingMode: billing.mode,
    billingPlan: raw.SPELL_BILLING_MODE,
    prepaidCurrency: raw.SPELL_PREPAID_CURRENCY,
    rateLimit: { perUser: raw.SPELL_RATE_LIMIT_USER, perSpell: raw.SPELL_RATE_LIMIT_SPELL },
    stripe: {
      secretKey: raw.STRIPE_SECRET_KEY,
      webhookSecret: raw.STRIPE_WEBHOOK_SECRET,
      apiBase: billing.apiBase,
    },
    billingReturnOrigins: billing.returnOrigins,
    publicUrl: raw.SPELL_PUBLIC_URL,
    log: {
      level: raw.SPELL_LOG_LEVEL ?? "info",
      format:
        raw.SPELL_LOG_FORMAT ??
        (raw.NODE_ENV === "development" && (options.stdoutIsTTY ?? process.stdout.isTTY === true)
          ? "pretty"
          : "json"),
    },
    metrics: {
      port: raw.SPELL_METRICS_PORT,
      host: raw.SPELL_METRICS_HOST ?? raw.HOST,
      token: raw.SPELL_METRICS_TOKEN,
      onApiPort:
        raw.SPELL_METRICS_PORT === undefined && (!production || raw.SPELL_METRICS_TOKEN !== undefined),
    },
    trustProxy: raw.SPELL_TRUST_PROXY,
    seedDemos: raw.SPELL_SEED_DEMOS ?? !production,
    databaseStartRetries: raw.SPELL_DB_START_RETRIES,
  };
}

function readSecretFile(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * `<NAME>_FILE` read into `<NAME>` (one trailing newline dropped, as editors and `echo` add one).
 * Both set is refused: which one wins would be a guess.
 */
function withFileVariables(source: EnvSource, readFile: (path: string) => string): EnvSource {
  const problems: string[] = [];
  let resolved: EnvSource | undefined;
  for (const name of FILE_VARIABLES) {
    const path = source[`${name}_FILE`]?.trim();
    if (!path) continue;
    if (source[name]?.trim()) {
      problems.push(`${name} and ${name}_FILE are both set; keep one`);
      continue;
    }
    resolved ??= { ...source };
    try {
      resolved[name] = readFile(path).replace(/\r?\n$/, "");
    } catch (error) {
      problems.push(
        `${name}_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
  }
  if (problems.length > 0) throw new EnvError(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
  return resolved ?? source;
}

/**
 * The billing adapter and its settings. A half-configured Stripe (one key of two), the local test
 * provider in production, or an unusable URL stops start-up instead of silently charging nobody.
 */
function billingSettings(
  raw: z.output<typeof ZEnvSource>,
  production: boolean,
): { mode: BillingMode; apiBase: StripeApiBase | undefined; returnOrigins: string[] } {
  const problems: string[] = [];
  const hasSecret = raw.STRIPE_SECRET_KEY !== undefined;
  const hasWebhookSecret = raw.STRIPE_WEBHOOK_SECRET !== undefined;
  if (hasSecret !== hasWebhookSecret) {
    problems.push("STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set together");
  }
  const mode: BillingMode =
    raw.SPELL_BILLING ?? (hasSecret && hasWebhookSecret ? "stripe" : production ? "none" : "local");
  if (mode === "stripe" && !(hasSecret && hasWebhookSecret)) {
    problems.push("SPELL_BILLING=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET");
  }
  if (mode === "local" && production) {
    problems.push("SPELL_BILLING=local: the local test payment provider never runs in production");
  }
  let apiBase: StripeApiBase | undefined;
  if (raw.STRIPE_API_BASE !== undefined) {
    try {
      apiBase = parseStripeApiBase(raw.STRIPE_API_BASE);
    } catch (error) {
      problems.push(`STRIPE_API_BASE: ${(error as Error).message}`);
    }
  }
  const returnOrigins: string[] = [];
  for (const value of raw.SPELL_BILLING_RETURN_ORIGINS) {
    const url = URL.canParse(value) ? new URL(value) : null;
    if (url && (url.protocol === "http:" || url.protocol === "https:")) returnOrigins.push(url.origin);
    else problems.push(`SPELL_BILLING_RETURN_ORIGINS: not an http(s) origin: ${value}`);
  }
  if (mode === "stripe" && production && returnOrigins.length === 0) {
    problems.push("SPELL_BILLING_RETURN_ORIGINS (where Stripe Checkout may send customers back)");
  }
  if (problems.length > 0) {
    throw new EnvError(`Invalid billing configuration:\n  - ${problems.join("\n  - ")}`);
  }
  return { mode, apiBase, returnOrigins };
}
