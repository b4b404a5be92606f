export { createDatabase, type Database, type DatabaseOptions } from "./database.ts";
export { type EmbeddedPostgres, type EmbeddedPostgresOptions, startEmbeddedPostgres } from "./embedded.ts";
export { migrateDatabase } from "./migrate/migrate.ts";
export { type LedgerDatabase, openLedgerDatabase } from "./repositories/ledger.ts";
export {
  createWebhookStore,
  type WebhookAttemptOutcome,
  type WebhookAttemptRecord,
  type WebhookDeliveryRecord,
  type WebhookDeliveryStatus,
  type WebhookEvent,
  type WebhookStore,
} from "./repositories/webhooks.ts";
