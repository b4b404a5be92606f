import { isIP } from "node:net";
import { AppError } from "@spell/contracts";
import { type HostAllowlist, isForbiddenAddress } from "@spell/runtime-api";

export interface WebhookUrlPolicy {
  /** Production: only https receivers. */
  requireHttps: boolean;
  /** Internal hosts admitted anyway (`SPELL_WEBHOOK_ALLOWED_HOSTS`, refused in production). */
  allowlist: HostAllowlist;
}

function refused(reason: string, message: string): AppError {
  return new AppError("VALIDATION_ERROR", message, {
    reason,
    issues: [{ path: ["webhook", "url"], message, code: "custom" }],
  });
}

/**
 * The request-time check of a webhook URL (before any row or charge): what can be refused without
 * DNS. A name is resolved and checked at every delivery (`guard.ts`); here a forbidden IP literal or
 * `localhost` is refused at once, as the api runtime does at publish time.
 */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused("webhook_url_invalid", "The webhook URL is not an absolute URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw refused("webhook_url_scheme", "The webhook URL must be an http(s) URL");
  }
  if (policy.requireHttps && url.protocol !== "https:") {
    throw refused("webhook_https_required", "The webhook URL must use https");
  }
  if (url.username !== "" || url.password !== "") {
    throw refused("webhook_url_credentials", "Credentials in the webhook URL are not allowed");
  }
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.$/, "");
  const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
  const internal =
    host.toLowerCase() === "localhost" ||
    host.toLowerCase().endsWith(".localhost") ||
    (isIP(host) !== 0 && isForbiddenAddress(host));
  if (internal && !policy.allowlist.admits(host, port)) {
    throw refused("webhook_forbidden_address", "The webhook URL points at an internal address");
  }
}
