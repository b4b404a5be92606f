import { isIP } from "node:net";
import { AppError } from "@spell/contracts";
import { z } from "zod";
import { HostAllowlist, isForbiddenAddress } from "./ssrf.ts";

export const API_DEFAULT_TIMEOUT_MS = 10_000;
export const API_MAX_TIMEOUT_MS = 30_000;
export const API_DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Ceiling on what a spell may ask for; the whole response is buffered in memory. */
export const API_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
const MAX_ENDPOINT_LENGTH = 2048;

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, spaces and tabs: no CR/LF, so no header injection. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Set by the runtime, or hop-by-hop: a spell cannot override them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-type",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "proxy-connection",
  "spell-signature",
  "spell-execution-id",
]);

/**
 * Names whose values are credentials. A plain-text value here would be stored in the spell's config
 * and shown to anyone who can read it, so these must be `{ secret: NAME }` references.
 */
const CREDENTIAL_HEADER = /auth|cookie|token|secret|password|passwd|api-?key|session|credential|signature/i;

const ZSecretRef = z.strictObject({
  secret: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/, "a secret name: letters, digits, '_', '.', '-'"),
});

const ZHeaderValue = z.union([
  z.string().max(8192).regex(HEADER_VALUE, "printable ASCII only (no CR/LF)"),
  ZSecretRef,
]);

export const ZApiSpellConfig = z.strictObject({
  method: z.enum(["POST", "PUT", "PATCH"]).default("POST"),
  headers: z
    .record(z.string().regex(HEADER_NAME, "an HTTP header name"), ZHeaderValue)
    .default({})
    .superRefine((headers, ctx) => {
      const seen = new Set<string>();
      const names = Object.keys(headers);
      if (names.length > 32) ctx.addIssue({ code: "custom", message: "at most 32 headers" });
      for (const name of names) {
        const lower = name.toLowerCase();
        if (seen.has(lower)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: "header given twice (names are case-insensitive)",
          });
        }
        seen.add(lower);
        if (RESERVED_HEADERS.has(lower)) {
          ctx.addIssue({ code: "custom", path: [name], message: "this header is set by Spell" });
        } else if (typeof headers[name] === "string" && CREDENTIAL_HEADER.test(lower)) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: "credential headers must reference a server secret: { secret: NAME }",
          });
        }
      }
    }),
  timeoutMs: z.number().int().min(1).max(API_MAX_TIMEOUT_MS).optional(),
  maxResponseBytes: z.number().int().min(1).max(API_MAX_RESPONSE_BYTES).optional(),
});

export type ApiSpellConfig = z.infer<typeof ZApiSpellConfig>;

/** Names of the server secrets a config refers to. */
export function referencedSecrets(config: ApiSpellConfig): string[] {
  return Object.values(config.headers).flatMap((value) => (typeof value === "string" ? [] : [value.secret]));
}

function invalid(message: string, details: Record<string, unknown>): AppError {
  return new AppError("ARTIFACT_INVALID", message, details);
}

/**
 * Publish-time check of an `api` artifact. The address guard still runs on every connection; this
 * only turns mistakes into an early, explained refusal. With `allowedHosts`, an IP-literal or
 * `localhost` endpoint that the guard would refuse is refused here too.
 */
export function validateApiArtifact(
  endpoint: string,
  config: unknown,
  options: { requireHttps: boolean; secrets: Record<string, string>; allowedHosts?: string[] },
): { endpoint: string; config: ApiSpellConfig } {
  if (endpoint.length > MAX_ENDPOINT_LENGTH) {
    throw invalid("The endpoint URL is too long", { reason: "endpoint_too_long", max: MAX_ENDPOINT_LENGTH });
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid("The endpoint is not an absolute URL", { reason: "endpoint_invalid" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid("The endpoint must be an http(s) URL", { reason: "endpoint_scheme" });
  }
  if (options.requireHttps && url.protocol !== "https:") {
    throw invalid("The endpoint must use https", { reason: "https_required" });
  }
  if (url.username !== "" || url.password !== "") {
    throw invalid("Credentials in the endpoint URL are not allowed; use a secret header", {
      reason: "endpoint_credentials",
    });
  }
  if (options.allowedHosts !== undefined) {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    const internal =
      host === "localhost" || host.endsWith(".localhost") || (isIP(host) !== 0 && isForbiddenAddress(host));
    if (internal && !new HostAllowlist(options.allowedHosts).admits(host, port)) {
      throw invalid("The endpoint points at an internal address", {
        reason: "forbidden_address",
        host: url.hostname,
      });
    }
  }

  const parsed = ZApiSpellConfig.safeParse(config ?? {});
  if (!parsed.success) {
    throw invalid("The api spell config is invalid", {
      reason: "config_invalid",
      issues: parsed.error.issues.map(({ code, path, message }) => ({ code, path, message })),
    });
  }
  const missing = referencedSecrets(parsed.data).filter((name) => !Object.hasOwn(options.secrets, name));
  if (missing.length > 0) {
    throw invalid("The config references secrets this server does not have", {
      reason: "unknown_secret",
      secrets: missing,
    });
  }
  return { endpoint: url.toString(), config: parsed.data };
}
