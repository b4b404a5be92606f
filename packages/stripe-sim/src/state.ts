export type Json = Record<string, unknown>;
/** A Stripe API object as the simulation stores it: the JSON Stripe would answer. */
export type StripeObject = Json & { id: string };

/** What a resource answers: an HTTP status and Stripe's JSON body (an object or `{error}`). */
export interface SimResult {
  status: number;
  body: Json;
}

/**
 * `500` and `network` fail before Stripe processes the request (nothing is created or saved under
 * the idempotency key); `network-after-commit` processes it, saves the response under the key and
 * then drops the connection (a replay under the key is dropped the same way: the answer is lost
 * again), the case where only the idempotency key prevents a second charge. `hang` accepts the
 * request and never answers, before processing it (a Stripe that stopped responding).
 */
export type FailureKind = "500" | "429" | "network" | "network-after-commit" | "hang";

export interface SavedResponse {
  requestSignature: string;
  status: number;
  body: Json;
}

export interface StripeSimState {
  customers: Map<string, StripeObject>;
  paymentMethods: Map<string, StripeObject>;
  paymentIntents: Map<string, StripeObject>;
  setupIntents: Map<string, StripeObject>;
  checkoutSessions: Map<string, StripeObject>;
  portalSessions: Map<string, StripeObject>;
  refunds: Map<string, StripeObject>;
  events: Map<string, StripeObject>;
  idempotency: Map<string, SavedResponse>;
  failures: { path: string; kind: FailureKind }[];
  /** `decline` (Stripe's behaviour): off-session 3-D Secure fails with `authentication_required`. */
  offSessionAuthentication: "decline" | "requires_action";
}

export function createState(): StripeSimState {
  return {
    customers: new Map(),
    paymentMethods: new Map(),
    paymentIntents: new Map(),
    setupIntents: new Map(),
    checkoutSessions: new Map(),
    portalSessions: new Map(),
    refunds: new Map(),
    events: new Map(),
    idempotency: new Map(),
    failures: [],
    offSessionAuthentication: "decline",
  };
}

export function clearState(state: StripeSimState): void {
  for (const map of [
    state.customers,
    state.paymentMethods,
    state.paymentIntents,
    state.setupIntents,
    state.checkoutSessions,
    state.portalSessions,
    state.refunds,
    state.events,
    state.idempotency,
  ]) {
    map.clear();
  }
  state.failures.length = 0;
  state.offSessionAuthentication = "decline";
}
