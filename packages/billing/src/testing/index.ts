export {
  createFakeStripe,
  type FailureKind,
  type FakeStripe,
  type FakeStripeState,
  type RecordedRequest,
} from "./fake-stripe.ts";
export { type FakeStripeServer, startFakeStripeServer } from "./server.ts";
export { createStripeEvent, signWebhookPayload } from "./webhooks.ts";
