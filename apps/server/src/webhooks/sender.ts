import type { WebhookAttemptRecord } from "@spell/db";
import type { DnsLookupAll, HostAllowlist } from "@spell/runtime-api";
import { Webhook } from "standardwebhooks";
import { request } from "undici";
import { createReceiverAgent, dnsFailure, guardRefusal } from "./guard.ts";

export const WEBHOOK_TIMEOUT_MS = 10_000;
/** What is read of a receiver's answer: its status is all that counts. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface WebhookSenderOptions {
  /** Standard Webhooks secret (`whsec_` + base64), the same for every delivery of this deployment. */
  secret: string;
  allowlist: HostAllowlist;
  /** Injectable DNS (tests: a name resolving to a forbidden address). */
  lookup?: DnsLookupAll | undefined;
  /** Connect + answer, default 10 s. */
  timeoutMs?: number;
}

export interface WebhookMessage {
  /** The delivery id, sent as `webhook-id` (stable across retries). */
  id: string;
  url: string;
  /** The JSON body, exactly as signed. */
  body: string;
}

export interface WebhookSender {
  send(message: WebhookMessage): Promise<WebhookAttemptRecord>;
  close(): Promise<void>;
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `timeout after ${timeoutMs} ms`;
  }
  const dns = dnsFailure(error);
  if (dns !== undefined) return dns.slice(0, 500);
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return (typeof code === "string" ? `${code}: ${message}` : message).slice(0, 500);
}

/**
 * One signed POST per attempt (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature` from `standardwebhooks`' `Webhook.sign`), through the SSRF-guarded connector,
 * no redirects followed (a 3xx is a failed attempt), bounded by `timeoutMs`.
 */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const signer = new Webhook(options.secret);
  const agent = createReceiverAgent({ allowlist: options.allowlist, lookup: options.lookup, timeoutMs });
  return {
    async send(message) {
      const attemptedAt = new Date();
      const started = performance.now();
      const elapsed = () => Math.max(0, Math.round(performance.now() - started));
      try {
        const response = await request(message.url, {
          method: "POST",
          dispatcher: agent,
          headers: {
            "content-type": "application/json",
            "user-agent": "Spell-Webhooks/1",
            "webhook-id": message.id,
            "webhook-timestamp": String(Math.floor(attemptedAt.getTime() / 1000)),
            "webhook-signature": signer.sign(message.id, attemptedAt, message.body),
          },
          body: message.body,
          signal: AbortSignal.timeout(timeoutMs),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        await response.body.dump({ limit: MAX_RESPONSE_BYTES }).catch(() => {});
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        return {
          attemptedAt,
          outcome: ok ? "delivered" : "failed",
          statusCode: response.statusCode,
          error: ok ? null : `HTTP ${response.statusCode}`,
          durationMs: elapsed(),
        };
      } catch (error) {
        const forbidden = guardRefusal(error);
        return {
          attemptedAt,
          outcome: forbidden ? "refused" : "failed",
          statusCode: null,
          error: forbidden ? forbidden.message : describe(error, timeoutMs),
          durationMs: elapsed(),
        };
      }
    },
    close: () => agent.close(),
  };
}
