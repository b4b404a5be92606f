import type { Readable } from "node:stream";
import { AppError, type JsonObject } from "@spell/contracts";
import type { Runtime, RuntimeInvocation, RuntimeResult, SpellRecord } from "@spell/engine";
import { Agent, request } from "undici";
import {
  API_DEFAULT_MAX_RESPONSE_BYTES,
  API_DEFAULT_TIMEOUT_MS,
  API_MAX_TIMEOUT_MS,
  type ApiSpellConfig,
  validateApiArtifact,
  ZApiSpellConfig,
} from "./config.ts";
import {
  deriveSpellSigningSecret,
  SPELL_EXECUTION_ID_HEADER,
  SPELL_SIGNATURE_HEADER,
  signUpstreamRequest,
} from "./signature.ts";
import {
  createGuardedConnector,
  DnsFailureError,
  type DnsLookupAll,
  ForbiddenAddressError,
  HostAllowlist,
} from "./ssrf.ts";

export interface ApiRuntimeOptions {
  /** Hosts (exact hostnames, or host:port) admitted even when they resolve to internal addresses (SPELL_API_ALLOWED_HOSTS). */
  allowedHosts: string[];
  /** Production: only https upstreams. */
  requireHttps: boolean;
  /** Secret header values by name, from server configuration; spells reference them by name. */
  secrets: Record<string, string>;
  /** Server key from which each spell's signing secret is derived (HMAC), so no per-spell secret is stored. */
  signingKey: string;
  /** Default 10 000. */
  defaultTimeoutMs?: number;
  /** Default 30 000; a spell's own `timeoutMs` is clamped to it. */
  maxTimeoutMs?: number;
  /** Default 1 MiB. */
  defaultMaxResponseBytes?: number;
  /** DNS lookup, injectable for tests (same shape as node:dns lookup with {all:true}). */
  lookup?: DnsLookupAll;
}

/** A spell's config parsed once, with its secret references resolved. */
type PreparedConfig =
  | { ok: true; config: ApiSpellConfig; headers: Record<string, string> }
  | { ok: false; error: AppError };

function runtimeError(message: string, details: Record<string, unknown>, cause?: unknown): AppError {
  return new AppError("RUNTIME_ERROR", message, details, { cause });
}

function canceledError(): AppError {
  return new AppError("EXECUTION_CANCELED", "The execution was canceled while it ran", {
    reason: "canceled",
  });
}

/** undici wraps connector errors in some paths; look one level down the `cause` chain too. */
function findCause<T extends Error>(error: unknown, type: new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    if (current instanceof type) return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * Drops a response body unread. undici's body emits an AbortError when destroyed; without a listener
 * that would be an uncaught exception that takes the process down.
 */
function discard(stream: Readable): void {
  stream.on("error", () => {});
  stream.destroy();
}

/** The `api` runtime: one signed JSON request per execution to the spell's upstream, behind the SSRF guard. */
export function createApiRuntime(options: ApiRuntimeOptions): Runtime {
  const maxTimeoutMs = options.maxTimeoutMs ?? API_MAX_TIMEOUT_MS;
  const defaultTimeoutMs = Math.min(options.defaultTimeoutMs ?? API_DEFAULT_TIMEOUT_MS, maxTimeoutMs);
  const defaultMaxResponseBytes = options.defaultMaxResponseBytes ?? API_DEFAULT_MAX_RESPONSE_BYTES;
  const allowlist = new HostAllowlist(options.allowedHosts);
  // One keep-alive pool for the process; pools are per origin, so a connection opened for an
  // allowlisted origin is never reused for another.
  const agent = new Agent({
    connect: createGuardedConnector({
      allowlist,
      connectTimeoutMs: maxTimeoutMs,
      ...(options.lookup ? { lookup: options.lookup } : {}),
    }),
  });
  // Keyed on the config object itself: a republished spell gets a new object, so no stale entries.
  const prepared = new WeakMap<JsonObject, PreparedConfig>();
  const signingSecrets = new Map<string, string>();

  function prepare(config: JsonObject): PreparedConfig {
    const cached = prepared.get(config);
    if (cached) return cached;
    let entry: PreparedConfig;
    const parsed = ZApiSpellConfig.safeParse(config);
    if (!parsed.success) {
      entry = {
        ok: false,
        error: runtimeError("The spell's api config is invalid", { reason: "config_invalid" }),
      };
    } else {
      const headers: Record<string, string> = {};
      let missing: string | undefined;
      for (const [name, value] of Object.entries(parsed.data.headers)) {
        if (typeof value === "string") headers[name.toLowerCase()] = value;
        else if (Object.hasOwn(options.secrets, value.secret)) {
          headers[name.toLowerCase()] = options.secrets[value.secret] as string;
        } else missing ??= value.secret;
      }
      entry =
        missing === undefined
          ? { ok: true, config: parsed.data, headers }
          : {
              ok: false,
              error: runtimeError("The spell references a secret this server does not have", {
                reason: "unknown_secret",
                secret: missing,
              }),
            };
    }
    prepared.set(config, entry);
    return entry;
  }

  function signingSecretFor(spell: SpellRecord): string {
    let secret = signingSecrets.get(spell.id);
    if (secret === undefined) {
      secret = deriveSpellSigningSecret(options.signingKey, spell.id);
      signingSecrets.set(spell.id, secret);
    }
    return secret;
  }

  function targetOf(spell: SpellRecord): URL {
    const endpoint = spell.artifact.apiEndpoint;
    let url: URL | undefined;
    try {
      url = endpoint ? new URL(endpoint) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
      throw runtimeError("The spell has no valid api endpoint", { reason: "endpoint_invalid" });
    }
    if (options.requireHttps && url.protocol !== "https:") {
      throw runtimeError("This server only calls https upstreams", { reason: "https_required" });
    }
    return url;
  }

  async function run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const { spell, executionId } = invocation;
    const url = targetOf(spell);
    const entry = prepare(spell.config);
    if (!entry.ok) throw entry.error;
    const timeoutMs = Math.min(entry.config.timeoutMs ?? defaultTimeoutMs, maxTimeoutMs);
    const maxBytes = entry.config.maxResponseBytes ?? defaultMaxResponseBytes;
    const host = url.hostname;

    const body = JSON.stringify(invocation.input);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      ...entry.headers,
      "content-type": "application/json",
      accept: "application/json",
      [SPELL_SIGNATURE_HEADER.toLowerCase()]: signUpstreamRequest(signingSecretFor(spell), timestamp, body),
      [SPELL_EXECUTION_ID_HEADER.toLowerCase()]: executionId,
    };

    // One deadline for connect, headers and body together: what the caller waits for. A cancel of
    // the run (the invocation's signal) aborts the same request: the upstream sees its connection close.
    const canceled = invocation.signal;
    if (canceled?.aborted) throw canceledError();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onCancel = () => controller.abort();
    canceled?.addEventListener("abort", onCancel, { once: true });
    const timeout = () =>
      canceled?.aborted
        ? canceledError()
        : new AppError("RUNTIME_TIMEOUT", `The upstream did not answer within ${timeoutMs} ms`, {
            timeoutMs,
          });

    try {
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(url, {
          dispatcher: agent,
          method: entry.config.method,
          headers,
          body,
          signal: controller.signal,
        });
      } catch (error) {
        if (timedOut || canceled?.aborted) throw timeout();
        if (findCause(error, ForbiddenAddressError)) {
          throw runtimeError(`Refused to call ${host}: it resolves to a forbidden address`, {
            reason: "forbidden_address",
            host,
          });
        }
        if (findCause(error, DnsFailureError)) {
          throw runtimeError(`Could not resolve ${host}`, { reason: "dns_failure", host }, error);
        }
        throw runtimeError(`Could not reach ${host}`, { reason: "upstream_unreachable", host }, error);
      }

      const { statusCode, body: stream } = response;
      if (statusCode < 200 || statusCode > 299) {
        discard(stream);
        const reason = statusCode >= 300 && statusCode < 400 ? "redirect_not_followed" : "upstream_status";
        throw runtimeError(`The upstream answered HTTP ${statusCode}`, {
          reason,
          upstreamStatus: statusCode,
        });
      }
      const tooLarge = () =>
        runtimeError(`The upstream response exceeds ${maxBytes} bytes`, {
          reason: "response_too_large",
          upstreamStatus: statusCode,
          maxResponseBytes: maxBytes,
        });
      const declared = Number(response.headers["content-length"]);
      if (Number.isFinite(declared) && declared > maxBytes) {
        discard(stream);
        throw tooLarge();
      }

      const chunks: Buffer[] = [];
      let received = 0;
      try {
        for await (const chunk of stream) {
          received += (chunk as Buffer).length;
          if (received > maxBytes) {
            discard(stream);
            throw tooLarge();
          }
          chunks.push(chunk as Buffer);
        }
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (timedOut || canceled?.aborted) throw timeout();
        throw runtimeError(`The upstream response from ${host} was cut off`, {
          reason: "upstream_aborted",
          upstreamStatus: statusCode,
        });
      }

      try {
        return { output: JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown };
      } catch {
        throw runtimeError("The upstream response is not JSON", {
          reason: "non_json",
          upstreamStatus: statusCode,
        });
      }
    } finally {
      clearTimeout(timer);
      canceled?.removeEventListener("abort", onCancel);
    }
  }

  return {
    kind: "api",
    prepare(artifact, config) {
      if (!("apiEndpoint" in artifact)) {
        throw new AppError("ARTIFACT_INVALID", 'An api spell\'s artifact is {"apiEndpoint": …}', {
          reason: "artifact_mismatch",
        });
      }
      const { endpoint } = validateApiArtifact(artifact.apiEndpoint, config, options);
      return { builtin: null, apiEndpoint: endpoint, wasmBinary: null, wasmSha256: null };
    },
    run,
    signingSecret: signingSecretFor,
    close: () => agent.close(),
  };
}
