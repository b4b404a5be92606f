import { randomBytes } from "node:crypto";
import { type HttpHandler, HttpResponse, http } from "msw";

/**
 * A small in-memory Stripe behind msw handlers. It answers the `stripe` SDK's real HTTP requests
 * with Stripe's JSON shapes and error bodies, records every request, and honours idempotency
 * keys like Stripe: a key seen before replays the saved response without creating anything.
 *
 * Test payment methods follow Stripe's test-mode semantics: `pm_card_visa` (and any other id)
 * succeeds, `pm_card_chargeDeclined` declines with `generic_decline`,
 * `pm_card_chargeDeclinedInsufficientFunds` with `insufficient_funds`, and
 * `pm_card_authenticationRequired` needs 3-D Secure (declined with `authentication_required`
 * off-session, `requires_action` on-session).
 */

export interface RecordedRequest {
  method: string;
  /** The path without the query, e.g. `/v1/payment_intents`. */
  path: string;
  /** The form-decoded body with Stripe's bracket keys kept flat: `body["metadata[user_id]"]`. */
  body: Record<string, string>;
  idempotencyKey: string | null;
}

/**
 * `500` and `network` fail before Stripe processes the request (nothing is created or saved under
 * the idempotency key); `network-after-commit` processes it, saves the response under the key and
 * then drops the connection, the case where only the idempotency key prevents a second charge.
 */
export type FailureKind = "500" | "429" | "network" | "network-after-commit";

type Json = Record<string, unknown>;
type StripeObject = Json & { id: string };

interface SavedResponse {
  requestSignature: string;
  status: number;
  body: Json;
}

export interface FakeStripeState {
  customers: Map<string, StripeObject>;
  paymentIntents: Map<string, StripeObject>;
  setupIntents: Map<string, StripeObject>;
  checkoutSessions: Map<string, StripeObject>;
  portalSessions: Map<string, StripeObject>;
  refunds: Map<string, StripeObject>;
  idempotency: Map<string, SavedResponse>;
  failures: { path: string; kind: FailureKind }[];
  /** `decline` (Stripe's behaviour): off-session 3-D Secure fails with `authentication_required`. */
  offSessionAuthentication: "decline" | "requires_action";
}

export interface FakeStripe {
  handlers: HttpHandler[];
  requests: RecordedRequest[];
  state: FakeStripeState;
  /** The SDK options that point at this fake (`apiBase` of createStripeBilling). */
  apiBase: { host: string; port: number; protocol: "http" | "https" };
  reset(): void;
  /** Makes the next `times` requests to `path` (exact, e.g. `/v1/payment_intents`) fail. */
  failNext(path: string, kind: FailureKind, times?: number): void;
  /** The requests to one path, optionally one method. */
  requestsTo(path: string, method?: string): RecordedRequest[];
  /** A Customer as if created by Stripe (for tests that start with a saved card). */
  createCustomer(metadata?: Record<string, string>): StripeObject;
  /** The customer finished 3-D Secure in Stripe.js: the intent is authorized (manual capture). */
  completeAuthentication(paymentIntentId: string): StripeObject;
  /** The customer completed a Checkout setup session with `paymentMethod`; returns the session. */
  completeCheckout(sessionId: string, paymentMethod: string): StripeObject;
}

const DECLINES: Record<string, { code: string; declineCode: string; message: string }> = {
  pm_card_chargeDeclined: {
    code: "card_declined",
    declineCode: "generic_decline",
    message: "Your card was declined.",
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: "card_declined",
    declineCode: "insufficient_funds",
    message: "Your card has insufficient funds.",
  },
};
const AUTHENTICATION_REQUIRED = "pm_card_authenticationRequired";

const randomId = (prefix: string) =>
  `${prefix}_${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}`;
const now = () => Math.floor(Date.now() / 1000);

function nested(body: Record<string, string>, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const prefix = `${field}[`;
  for (const [key, value] of Object.entries(body)) {
    if (key.startsWith(prefix) && key.endsWith("]")) out[key.slice(prefix.length, -1)] = value;
  }
  return out;
}

function stripeError(status: number, error: Json) {
  return {
    status,
    body: {
      error: {
        doc_url:
          typeof error.code === "string" ? `https://stripe.com/docs/error-codes/${error.code}` : undefined,
        request_log_url: `https://dashboard.stripe.com/test/logs/${randomId("req")}`,
        ...error,
      },
    },
  };
}

const missing = (kind: string, id: string, param: string) =>
  stripeError(404, {
    code: "resource_missing",
    message: `No such ${kind}: '${id}'`,
    param,
    type: "invalid_request_error",
  });

const unexpectedState = (intent: StripeObject, action: string, allowed: string) =>
  stripeError(400, {
    code: "payment_intent_unexpected_state",
    message: `This PaymentIntent could not be ${action} because it has a status of ${String(intent.status)}. Only a PaymentIntent with one of the following statuses may be ${action}: ${allowed}.`,
    payment_intent: intent,
    type: "invalid_request_error",
  });

export function createFakeStripe(options: { baseUrl?: string } = {}): FakeStripe {
  const base = new URL(options.baseUrl ?? "https://api.stripe.com");
  const origin = base.origin;
  const protocol = base.protocol === "http:" ? "http" : "https";
  const apiBase = {
    host: base.hostname,
    port: base.port ? Number(base.port) : protocol === "http" ? 80 : 443,
    protocol,
  } as const;

  const requests: RecordedRequest[] = [];
  const state: FakeStripeState = {
    customers: new Map(),
    paymentIntents: new Map(),
    setupIntents: new Map(),
    checkoutSessions: new Map(),
    portalSessions: new Map(),
    refunds: new Map(),
    idempotency: new Map(),
    failures: [],
    offSessionAuthentication: "decline",
  };

  function newCustomer(metadata: Record<string, string>): StripeObject {
    const customer: StripeObject = {
      id: randomId("cus"),
      object: "customer",
      address: null,
      balance: 0,
      created: now(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: null,
      email: null,
      invoice_prefix: randomBytes(4).toString("hex").toUpperCase(),
      invoice_settings: {
        custom_fields: null,
        default_payment_method: null,
        footer: null,
        rendering_options: null,
      },
      livemode: false,
      metadata,
      name: null,
      phone: null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: "none",
      test_clock: null,
    };
    state.customers.set(customer.id, customer);
    return customer;
  }

  function newSetupIntent(customer: string | null): StripeObject {
    const id = randomId("seti");
    const setupIntent: StripeObject = {
      id,
      object: "setup_intent",
      application: null,
      automatic_payment_methods: null,
      cancellation_reason: null,
      client_secret: `${id}_secret_${randomBytes(8).toString("hex")}`,
      created: now(),
      customer,
      description: null,
      flow_directions: null,
      last_setup_error: null,
      latest_attempt: null,
      livemode: false,
      mandate: null,
      metadata: {},
      next_action: null,
      on_behalf_of: null,
      payment_method: null,
      payment_method_options: {
        card: { mandate_options: null, network: null, request_three_d_secure: "automatic" },
      },
      payment_method_types: ["card"],
      single_use_mandate: null,
      status: "requires_payment_method",
      usage: "off_session",
    };
    state.setupIntents.set(id, setupIntent);
    return setupIntent;
  }

  function createPaymentIntent(body: Record<string, string>): { status: number; body: Json } {
    const amount = Number(body.amount);
    if (!Number.isInteger(amount) || amount < 1 || !body.currency) {
      return stripeError(400, {
        code: "parameter_missing",
        message: "Missing required param: amount.",
        param: "amount",
        type: "invalid_request_error",
      });
    }
    if (body.customer && !state.customers.has(body.customer)) {
      return missing("customer", body.customer, "customer");
    }
    const id = randomId("pi");
    const paymentMethod = body.payment_method ?? null;
    const captureMethod = body.capture_method ?? "automatic_async";
    const intent: StripeObject = {
      id,
      object: "payment_intent",
      amount,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: null,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: captureMethod,
      client_secret: `${id}_secret_${randomBytes(10).toString("hex")}`,
      confirmation_method: "automatic",
      created: now(),
      currency: body.currency,
      customer: body.customer ?? null,
      description: body.description ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      metadata: nested(body, "metadata"),
      next_action: null,
      on_behalf_of: null,
      payment_method: paymentMethod,
      payment_method_configuration_details: null,
      payment_method_options: {
        card: {
          installments: null,
          mandate_options: null,
          network: null,
          request_three_d_secure: "automatic",
        },
      },
      payment_method_types: ["card"],
      processing: null,
      receipt_email: null,
      review: null,
      setup_future_usage: null,
      shipping: null,
      source: null,
      statement_descriptor: null,
      statement_descriptor_suffix: null,
      status: paymentMethod ? "requires_confirmation" : "requires_payment_method",
      transfer_data: null,
      transfer_group: null,
    };
    state.paymentIntents.set(id, intent);
    if (body.confirm !== "true" || !paymentMethod) return { status: 200, body: intent };

    const decline = DECLINES[paymentMethod];
    const needsAuthentication = paymentMethod === AUTHENTICATION_REQUIRED;
    if (
      decline ||
      (needsAuthentication && body.off_session === "true" && state.offSessionAuthentication === "decline")
    ) {
      const charge = randomId("ch");
      const code = decline?.code ?? "authentication_required";
      const declineCode = decline?.declineCode ?? "authentication_required";
      const message = decline?.message ?? "Your card was declined. This transaction requires authentication.";
      const paymentMethodObject = {
        id: paymentMethod,
        object: "payment_method",
        type: "card",
        customer: intent.customer,
      };
      Object.assign(intent, {
        status: "requires_payment_method",
        latest_charge: charge,
        payment_method: null,
        last_payment_error: {
          charge,
          code,
          decline_code: declineCode,
          doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, "-")}`,
          message,
          payment_method: paymentMethodObject,
          type: "card_error",
        },
      });
      return stripeError(402, {
        charge,
        code,
        decline_code: declineCode,
        message,
        payment_intent: intent,
        payment_method: paymentMethodObject,
        type: "card_error",
      });
    }
    if (needsAuthentication) {
      Object.assign(intent, {
        status: "requires_action",
        next_action: {
          type: "use_stripe_sdk",
          use_stripe_sdk: {
            type: "three_d_secure_redirect",
            stripe_js: `https://hooks.stripe.com/redirect/authenticate/${randomId("src")}`,
            source: randomId("src"),
          },
        },
      });
      return { status: 200, body: intent };
    }
    authorize(intent);
    return { status: 200, body: intent };
  }

  function authorize(intent: StripeObject) {
    const manual = intent.capture_method === "manual";
    Object.assign(intent, {
      status: manual ? "requires_capture" : "succeeded",
      amount_capturable: manual ? intent.amount : 0,
      amount_received: manual ? 0 : intent.amount,
      latest_charge: randomId("ch"),
      last_payment_error: null,
      next_action: null,
    });
  }

  function route(method: string, path: string, body: Record<string, string>): { status: number; body: Json } {
    const parts = path.split("/").filter(Boolean).slice(1);
    const [resource, id, action] = parts;
    if (method === "POST" && resource === "customers" && id === undefined) {
      return { status: 200, body: newCustomer(nested(body, "metadata")) };
    }
    if (resource === "customers" && id !== undefined) {
      const customer = state.customers.get(id);
      if (!customer) return missing("customer", id, "id");
      if (method === "POST") {
        const settings = customer.invoice_settings as Json;
        const defaultPm = body["invoice_settings[default_payment_method]"];
        if (defaultPm !== undefined) settings.default_payment_method = defaultPm || null;
        Object.assign(customer.metadata as Json, nested(body, "metadata"));
      }
      return { status: 200, body: customer };
    }
    if (method === "POST" && resource === "payment_intents" && id === undefined)
      return createPaymentIntent(body);
    if (resource === "payment_intents" && id !== undefined) {
      const intent = state.paymentIntents.get(id);
      if (!intent) return missing("payment_intent", id, "intent");
      if (method === "GET" && action === undefined) return { status: 200, body: intent };
      if (method === "POST" && action === "capture") {
        if (intent.status !== "requires_capture")
          return unexpectedState(intent, "captured", "requires_capture");
        const amount = body.amount_to_capture ? Number(body.amount_to_capture) : (intent.amount as number);
        Object.assign(intent, { status: "succeeded", amount_capturable: 0, amount_received: amount });
        return { status: 200, body: intent };
      }
      if (method === "POST" && action === "cancel") {
        if (intent.status === "succeeded" || intent.status === "canceled") {
          return unexpectedState(
            intent,
            "canceled",
            "requires_payment_method, requires_capture, requires_confirmation, requires_action, processing",
          );
        }
        Object.assign(intent, {
          status: "canceled",
          amount_capturable: 0,
          canceled_at: now(),
          cancellation_reason: body.cancellation_reason ?? null,
        });
        return { status: 200, body: intent };
      }
    }
    if (method === "POST" && resource === "refunds" && id === undefined) {
      const intentId = body.payment_intent ?? "";
      const intent = state.paymentIntents.get(intentId);
      if (!intent) return missing("payment_intent", intentId, "payment_intent");
      if (intent.status !== "succeeded") {
        return stripeError(400, {
          code: "charge_not_refundable",
          message: "This PaymentIntent does not have a successful charge to refund.",
          type: "invalid_request_error",
        });
      }
      const refund: StripeObject = {
        id: randomId("re"),
        object: "refund",
        amount: body.amount ? Number(body.amount) : intent.amount,
        balance_transaction: randomId("txn"),
        charge: intent.latest_charge,
        created: now(),
        currency: intent.currency,
        destination_details: {
          card: { reference_status: "pending", reference_type: "acquirer_reference_number", type: "refund" },
          type: "card",
        },
        metadata: nested(body, "metadata"),
        payment_intent: intent.id,
        reason: body.reason ?? null,
        receipt_number: null,
        source_transfer_reversal: null,
        status: "succeeded",
        transfer_reversal: null,
      };
      state.refunds.set(refund.id, refund);
      return { status: 200, body: refund };
    }
    if (method === "POST" && resource === "checkout" && id === "sessions") {
      if (body.customer && !state.customers.has(body.customer))
        return missing("customer", body.customer, "customer");
      const setupIntent = body.mode === "setup" ? newSetupIntent(body.customer ?? null) : null;
      const sessionId = randomId("cs_test");
      const session: StripeObject = {
        id: sessionId,
        object: "checkout.session",
        cancel_url: body.cancel_url ?? null,
        client_reference_id: null,
        created: now(),
        currency: body.currency ?? null,
        customer: body.customer ?? null,
        expires_at: now() + 86400,
        livemode: false,
        metadata: nested(body, "metadata"),
        mode: body.mode,
        payment_intent: null,
        payment_method_types: ["card"],
        payment_status: "no_payment_required",
        setup_intent: setupIntent?.id ?? null,
        status: "open",
        success_url: body.success_url ?? null,
        url: `https://checkout.stripe.com/c/pay/${sessionId}#fid${randomBytes(6).toString("hex")}`,
      };
      state.checkoutSessions.set(sessionId, session);
      return { status: 200, body: session };
    }
    if (method === "POST" && resource === "billing_portal" && id === "sessions") {
      if (!body.customer || !state.customers.has(body.customer)) {
        return missing("customer", body.customer ?? "", "customer");
      }
      const session: StripeObject = {
        id: randomId("bps"),
        object: "billing_portal.session",
        configuration: randomId("bpc"),
        created: now(),
        customer: body.customer,
        flow: null,
        livemode: false,
        locale: null,
        on_behalf_of: null,
        return_url: body.return_url ?? null,
        url: `https://billing.stripe.com/p/session/test_${randomBytes(16).toString("hex")}`,
      };
      state.portalSessions.set(session.id, session);
      return { status: 200, body: session };
    }
    if (method === "GET" && resource === "setup_intents" && id !== undefined) {
      const setupIntent = state.setupIntents.get(id);
      return setupIntent ? { status: 200, body: setupIntent } : missing("setup_intent", id, "intent");
    }
    return stripeError(404, {
      message: `Unrecognized request URL (${method}: ${path}).`,
      type: "invalid_request_error",
    });
  }

  const respond = (status: number, body: Json, headers: Record<string, string> = {}) =>
    HttpResponse.json(body, {
      status,
      headers: { "request-id": randomId("req"), "stripe-version": "2026-10-28.endive", ...headers },
    });

  const handler = http.all(`${origin}/v1/*`, async ({ request }) => {
    const url = new URL(request.url);
    const text = request.method === "GET" ? url.search.slice(1) : await request.text();
    const body = Object.fromEntries(new URLSearchParams(text));
    const idempotencyKey = request.headers.get("idempotency-key");
    // Everything below runs without awaiting, so concurrent requests are handled one at a time.
    requests.push({ method: request.method, path: url.pathname, body, idempotencyKey });

    const failureIndex = state.failures.findIndex((failure) => failure.path === url.pathname);
    const failure = failureIndex >= 0 ? state.failures.splice(failureIndex, 1)[0] : undefined;
    if (failure?.kind === "network") return HttpResponse.error();
    if (failure?.kind === "500") {
      const error = stripeError(500, { message: "An unknown error occurred", type: "api_error" });
      return respond(error.status, error.body);
    }
    if (failure?.kind === "429") {
      const error = stripeError(429, {
        code: "rate_limit",
        message: "Too many requests hit the API too quickly.",
        type: "invalid_request_error",
      });
      return respond(error.status, error.body);
    }

    const signature = `${request.method} ${url.pathname} ${text}`;
    if (request.method === "POST" && idempotencyKey) {
      const saved = state.idempotency.get(idempotencyKey);
      if (saved) {
        if (saved.requestSignature !== signature) {
          const error = stripeError(400, {
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            type: "idempotency_error",
          });
          return respond(error.status, error.body);
        }
        return respond(saved.status, saved.body, {
          "idempotency-key": idempotencyKey,
          "idempotent-replayed": "true",
        });
      }
    }
    const result = route(request.method, url.pathname, body);
    // Stripe saves the response as sent, so a replay shows the state at the first request.
    const snapshot = structuredClone(result.body);
    if (request.method === "POST" && idempotencyKey) {
      state.idempotency.set(idempotencyKey, {
        requestSignature: signature,
        status: result.status,
        body: snapshot,
      });
    }
    if (failure?.kind === "network-after-commit") return HttpResponse.error();
    return respond(result.status, snapshot, idempotencyKey ? { "idempotency-key": idempotencyKey } : {});
  });

  const fake: FakeStripe = {
    handlers: [handler],
    requests,
    state,
    apiBase,
    reset() {
      requests.length = 0;
      for (const map of [
        state.customers,
        state.paymentIntents,
        state.setupIntents,
        state.checkoutSessions,
        state.portalSessions,
        state.refunds,
        state.idempotency,
      ]) {
        map.clear();
      }
      state.failures.length = 0;
      state.offSessionAuthentication = "decline";
    },
    failNext(path, kind, times = 1) {
      for (let i = 0; i < times; i++) state.failures.push({ path, kind });
    },
    requestsTo(path, method) {
      return requests.filter(
        (request) => request.path === path && (method === undefined || request.method === method),
      );
    },
    createCustomer(metadata = {}) {
      return newCustomer(metadata);
    },
    completeAuthentication(paymentIntentId) {
      const intent = state.paymentIntents.get(paymentIntentId);
      if (!intent) throw new Error(`fake stripe: no payment intent ${paymentIntentId}`);
      if (intent.status === "requires_payment_method") {
        // On-session retry with the same card, as Stripe.js's confirmCardPayment does.
        intent.payment_method = AUTHENTICATION_REQUIRED;
      }
      authorize(intent);
      return intent;
    },
    completeCheckout(sessionId, paymentMethod) {
      const session = state.checkoutSessions.get(sessionId);
      if (!session) throw new Error(`fake stripe: no checkout session ${sessionId}`);
      const setupIntent = state.setupIntents.get(String(session.setup_intent));
      if (setupIntent) Object.assign(setupIntent, { status: "succeeded", payment_method: paymentMethod });
      Object.assign(session, { status: "complete" });
      return session;
    },
  };
  return fake;
}
