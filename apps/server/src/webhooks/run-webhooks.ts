import type { WebhookDeliveryView } from "@spell/contracts";
import type { WebhookStore } from "@spell/db";
import type { RunWebhooks } from "@spell/engine";
import { HostAllowlist } from "@spell/runtime-api";
import { checkWebhookUrl } from "./policy.ts";

export type { RunWebhooks };

/** The transports' side of run webhooks: the request-time URL check and the owner's deliveries view. */
export function createRunWebhooks(
  settings: { requireHttps: boolean; allowedHosts: string[] },
  store: WebhookStore,
): RunWebhooks {
  const policy = {
    requireHttps: settings.requireHttps,
    allowlist: new HostAllowlist(settings.allowedHosts),
  };
  return {
    check: (url) => checkWebhookUrl(url, policy),
    async deliveries(executionId) {
      const rows = await store.listForExecution(executionId);
      return rows.map(
        (row): WebhookDeliveryView => ({
          deliveryId: row.id,
          event: row.event,
          url: row.url,
          status: row.status,
          attempts: row.attemptList.map((attempt) => ({
            attemptedAt: attempt.attemptedAt.toISOString(),
            outcome: attempt.outcome,
            statusCode: attempt.statusCode,
            error: attempt.error,
            durationMs: attempt.durationMs,
          })),
          lastError: row.lastError,
          createdAt: row.createdAt.toISOString(),
          finishedAt: row.finishedAt?.toISOString() ?? null,
        }),
      );
    },
  };
}
