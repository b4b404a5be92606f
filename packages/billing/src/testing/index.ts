export {
  createFakeStripe,
  type FailureKind,
  type FakeStripe,
  type FakeStripeState,
  type RecordedRequest,
} from "./fake-stripe.ts";
export { createStripeEvent, signWebhookPayload } from "./webhooks.ts";
