import { unrecognized } from "./errors.ts";
import { createFailures } from "./failures.ts";
import { createHostedPages, type HostedPages } from "./hosted-pages.ts";
import { createIdempotency } from "./idempotency.ts";
import { createIds, randomHex } from "./ids.ts";
import { billingPortalResource } from "./resources/billing-portal.ts";
import { checkoutSessionsResource } from "./resources/checkout-sessions.ts";
import type { ResourceContext, ResourceHandler } from "./resources/context.ts";
import { customersResource } from "./resources/customers.ts";
import { eventsResource, SIM_API_VERSION, type WebhookEndpoint } from "./resources/events.ts";
import { paymentIntentsResource } from "./resources/payment-intents.ts";
import { paymentMethodsResource } from "./resources/payment-methods.ts";
import { refundsResource } from "./resources/refunds.ts";
import { setupIntentsResource } from "./resources/setup-intents.ts";
import {
  clearState,
  createState,
  type FailureKind,
  type Json,
  type StripeObject,
  type StripeSimState,
} from "./state.ts";

export interface RecordedRequest {
  method: string;
  /** The path without the query, e.g. `/v1/payment_intents`. */
  path: string;
  /** The form-decoded body with Stripe's bracket keys kept flat: `body["metadata[user_id]"]`. */
  body: Record<string, string>;
  idempotencyKey: string | null;
}

/** One HTTP request to the API, transport-neutral: the node server and msw both feed it. */
export interface SimRequest {
  method: string;
  /** `/v1/...`, without the query. */
  path: string;
  /** The form-encoded body; for a GET, the query string. */
  body: string;
  idempotencyKey: string | null;
}

/** Stripe's answer, or a connection the simulated network drops without one. */
export type SimResponse =
  | { kind: "response"; status: number; headers: Record<string, string>; body: Json }
  | { kind: "drop" }
  /** Never answered: the transport holds the request until the client gives up. */
  | { kind: "hang" };

export interface StripeSimOptions {
  /**
   * Put into every id (`pi_local_…`, `cs_local_…`) so simulated objects are recognisable as such.
   * Unset: ids shaped like Stripe's test mode (`pi_…`, `cs_test_…`).
   */
  idTag?: string;
  /**
   * The URL under which the app serves `hostedPages` (`http://127.0.0.1:8787/local-billing`):
   * Checkout and portal sessions then point to `<url>/checkout?session=…` and
   * `<url>/portal?session=…`. Unset: Stripe's own URLs, which nobody can open.
   */
  hostedPagesUrl?: string;
  /** Where events caused by customer actions are delivered; unset, they are only recorded. */
  webhook?: WebhookEndpoint;
  /**
   * Keep every request in `requests` (default). A long benchmark turns it off: the list would grow
   * with every call and its upkeep would be counted as Stripe's latency.
   */
  recordRequests?: boolean;
  /**
   * At most this many saved idempotent responses, oldest dropped first (default: all). Stripe
   * forgets keys after 24 hours; a bounded sim stands in for that in runs of millions of calls.
   */
  idempotencyKeys?: number;
}

export interface StripeSim {
  /** Every request received, in order, including failed and replayed ones. */
  requests: RecordedRequest[];
  state: StripeSimState;
  /** Answers one API request. Synchronous, so concurrent requests are handled one at a time. */
  handle(request: SimRequest): SimResponse;
  reset(): void;
  /**
   * Makes the next `times` requests to `path` fail: exact (`/v1/payment_intents`), or with `*` for
   * one segment (`/v1/payment_intents/{star}/capture`, where `{star}` is `*`).
   */
  failNext(path: string, kind: FailureKind, times?: number): void;
  /** The requests to one path, optionally one method. */
  requestsTo(path: string, method?: string): RecordedRequest[];
  /** A Customer as if created by Stripe (for tests that start with a saved card). */
  createCustomer(metadata?: Record<string, string>): StripeObject;
  /** The customer finished 3-D Secure in Stripe.js: the intent is authorized (manual capture). No event. */
  completeAuthentication(paymentIntentId: string): StripeObject;
  /** The customer completed a Checkout setup session with `paymentMethod`; returns the session. No event. */
  completeCheckout(sessionId: string, paymentMethod: string): StripeObject;
  /** What a customer does on Stripe's pages and in Stripe.js, followed by the events Stripe sends. */
  customerActions: CustomerActions;
  /** Stripe's hosted Checkout and portal pages, for the app to serve (see `hostedPagesUrl`). */
  hostedPages: HostedPages;
}

export interface CustomerActions {
  /** Completes Checkout; sends `setup_intent.succeeded` and `checkout.session.completed`. */
  completeCheckout(sessionId: string, paymentMethod: string): Promise<StripeObject>;
  /** Finishes 3-D Secure; sends `payment_intent.amount_capturable_updated` (or `.succeeded`). */
  authenticate(paymentIntentId: string): Promise<StripeObject>;
  /** Picks a new default card in the portal; sends `customer.updated`. */
  chooseDefaultInPortal(portalSessionId: string, paymentMethod: string): Promise<StripeObject>;
}

/**
 * An in-memory Stripe: the API's real JSON shapes and error bodies, idempotency keys, failure
 * injection, recorded requests, Stripe's test cards, and the hosted pages a customer uses.
 */
export function createStripeSim(options: StripeSimOptions = {}): StripeSim {
  const state = createState();
  const requests: RecordedRequest[] = [];
  const record = options.recordRequests ?? true;
  const ctx: ResourceContext = {
    state,
    ids: createIds(options.idTag),
    hostedPagesUrl: options.hostedPagesUrl?.replace(/\/+$/, ""),
  };
  const customers = customersResource(ctx);
  const paymentMethods = paymentMethodsResource(ctx);
  const setupIntents = setupIntentsResource(ctx);
  const paymentIntents = paymentIntentsResource(ctx);
  const checkoutSessions = checkoutSessionsResource(ctx, { setupIntents, paymentMethods });
  const billingPortal = billingPortalResource(ctx);
  const refunds = refundsResource(ctx);
  const events = eventsResource(ctx, options.webhook);
  const idempotency = createIdempotency(state, options.idempotencyKeys);
  const failures = createFailures(state);

  const resources: Record<string, ResourceHandler> = {
    customers: customers.handle,
    payment_methods: paymentMethods.handle,
    setup_intents: setupIntents.handle,
    payment_intents: paymentIntents.handle,
    "checkout/sessions": checkoutSessions.handle,
    "billing_portal/sessions": billingPortal.handle,
    refunds: refunds.handle,
    events: events.handle,
  };

  function route(method: string, path: string, body: Record<string, string>) {
    const parts = path.split("/").filter(Boolean);
    if (parts[0] !== "v1") return unrecognized(method, path);
    // `checkout/sessions` and `billing_portal/sessions` are one resource under two segments.
    const grouped = parts[1] === "checkout" || parts[1] === "billing_portal";
    const name = grouped ? `${parts[1]}/${parts[2]}` : (parts[1] ?? "");
    const [id, action, extra] = parts.slice(grouped ? 3 : 2);
    const handler = Object.hasOwn(resources, name) ? resources[name] : undefined;
    const result = extra === undefined ? handler?.({ method, id, action, body }) : undefined;
    return result ?? unrecognized(method, path);
  }

  const response = (status: number, body: Json, headers: Record<string, string> = {}): SimResponse => ({
    kind: "response",
    status,
    body,
    headers: { "request-id": `req_${randomHex(7)}`, "stripe-version": SIM_API_VERSION, ...headers },
  });

  function handle(request: SimRequest): SimResponse {
    const body = Object.fromEntries(new URLSearchParams(request.body));
    const { method, path, idempotencyKey } = request;
    if (record) requests.push({ method, path, body, idempotencyKey });

    const failure = failures.take(path);
    if (failure === "network") return { kind: "drop" };
    if (failure === "hang") return { kind: "hang" };
    const failed = failure ? failures.answerFor(failure) : undefined;
    if (failed) return response(failed.status, failed.body);

    const signature = `${method} ${path} ${request.body}`;
    const keyed = method === "POST" && idempotencyKey ? idempotencyKey : null;
    if (keyed) {
      const saved = idempotency.replay(keyed, signature);
      if (saved) {
        if (failure === "network-after-commit") return { kind: "drop" };
        const headers: Record<string, string> = saved.replayed
          ? { "idempotency-key": keyed, "idempotent-replayed": "true" }
          : {};
        return response(saved.result.status, saved.result.body, headers);
      }
    }
    const result = route(method, path, body);
    // Stripe saves the response as sent, so a replay shows the state at the first request.
    const snapshot = structuredClone(result.body);
    if (keyed) idempotency.save(keyed, signature, { status: result.status, body: snapshot });
    if (failure === "network-after-commit") return { kind: "drop" };
    return response(result.status, snapshot, keyed ? { "idempotency-key": keyed } : {});
  }

  const customerActions: CustomerActions = {
    async completeCheckout(sessionId, paymentMethod) {
      const session = checkoutSessions.complete(sessionId, paymentMethod);
      const setupIntent = state.setupIntents.get(String(session.setup_intent));
      if (setupIntent) await events.emit("setup_intent.succeeded", setupIntent);
      await events.emit("checkout.session.completed", session);
      return session;
    },
    async authenticate(paymentIntentId) {
      const intent = paymentIntents.completeAuthentication(paymentIntentId);
      await events.emit(
        intent.status === "requires_capture"
          ? "payment_intent.amount_capturable_updated"
          : "payment_intent.succeeded",
        intent,
      );
      return intent;
    },
    async chooseDefaultInPortal(portalSessionId, paymentMethod) {
      const session = state.portalSessions.get(portalSessionId);
      const customer = session ? state.customers.get(String(session.customer)) : undefined;
      if (!customer) throw new Error(`stripe-sim: no portal session ${portalSessionId}`);
      paymentMethods.attach(paymentMethod, customer.id);
      customers.setDefaultPaymentMethod(customer, paymentMethod);
      await events.emit("customer.updated", customer);
      return customer;
    },
  };

  return {
    requests,
    state,
    handle,
    reset() {
      requests.length = 0;
      clearState(state);
    },
    failNext: failures.failNext,
    requestsTo: (path, method) =>
      requests.filter(
        (request) => request.path === path && (method === undefined || request.method === method),
      ),
    createCustomer: (metadata = {}) => customers.create(metadata),
    completeAuthentication: paymentIntents.completeAuthentication,
    completeCheckout: checkoutSessions.complete,
    customerActions,
    hostedPages: createHostedPages({
      pagesUrl: ctx.hostedPagesUrl,
      checkoutSessions,
      billingPortal,
      customerActions,
      state,
    }),
  };
}
