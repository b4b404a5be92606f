export {
  createFakeStripe,
  type FailureKind,
  type FakeStripe,
  type FakeStripeState,
  type RecordedRequest,
} from "./fake-stripe.ts";
export { spellRecord, useFakeStripe, userRecord } from "./fixtures.ts";
export { createMemoryBillingStore } from "./memory-store.ts";
export { type FakeStripeServer, startFakeStripeServer } from "./server.ts";
export { createStripeEvent, signWebhookPayload } from "./webhooks.ts";
