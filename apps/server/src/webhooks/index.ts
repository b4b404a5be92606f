export { checkWebhookUrl, type WebhookUrlPolicy } from "./policy.ts";
export { createRunWebhooks, type RunWebhooks } from "./run-webhooks.ts";
export {
  createWebhookSender,
  WEBHOOK_TIMEOUT_MS,
  type WebhookSender,
  type WebhookSenderOptions,
} from "./sender.ts";
export { type RunWebhookDeliveryOptions, startRunWebhookDelivery } from "./start.ts";
export {
  type RenderExecution,
  startWebhookWorker,
  WEBHOOK_QUEUE,
  type WebhookWorker,
  type WebhookWorkerOptions,
} from "./worker.ts";
