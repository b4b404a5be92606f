export type { HostedPageForm, HostedPageResponse, HostedPages } from "./hosted-pages.ts";
export {
  createStripeEvent,
  SIM_API_VERSION,
  signStripePayload,
  type WebhookEndpoint,
} from "./resources/events.ts";
export { type StripeSimServer, startStripeSimServer } from "./server.ts";
export {
  type CustomerActions,
  createStripeSim,
  type RecordedRequest,
  type SimRequest,
  type SimResponse,
  type StripeSim,
  type StripeSimOptions,
} from "./sim.ts";
export type { FailureKind, Json, StripeObject, StripeSimState } from "./state.ts";
export { isTestPaymentMethod, TEST_PAYMENT_METHODS, type TestPaymentMethod } from "./test-cards.ts";
