import { missing, ok, stripeError, unexpectedState } from "../errors.ts";
import { nested } from "../form.ts";
import { now, randomHex } from "../ids.ts";
import type { SimResult, StripeObject } from "../state.ts";
import { AUTHENTICATION_REQUIRED, DECLINES } from "../test-cards.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/**
 * `/v1/payment_intents`: create (optionally confirming), retrieve, capture, cancel, with Stripe's
 * test-card outcomes: declines answer 402 `card_error`; `pm_card_authenticationRequired` needs
 * 3-D Secure (declined with `authentication_required` off-session, `requires_action` on-session).
 */
export function paymentIntentsResource(ctx: ResourceContext) {
  const { state, ids } = ctx;

  function authorize(intent: StripeObject): void {
    const manual = intent.capture_method === "manual";
    Object.assign(intent, {
      status: manual ? "requires_capture" : "succeeded",
      amount_capturable: manual ? intent.amount : 0,
      amount_received: manual ? 0 : intent.amount,
      latest_charge: ids.next("ch"),
      last_payment_error: null,
      next_action: null,
    });
  }

  function decline(intent: StripeObject, paymentMethod: string): SimResult {
    const known = DECLINES[paymentMethod];
    const charge = ids.next("ch");
    const code = known?.code ?? "authentication_required";
    const declineCode = known?.declineCode ?? "authentication_required";
    const message = known?.message ?? "Your card was declined. This transaction requires authentication.";
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

  function create(body: Record<string, string>): SimResult {
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
    const id = ids.next("pi");
    const paymentMethod = body.payment_method ?? null;
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
      capture_method: body.capture_method ?? "automatic_async",
      client_secret: `${id}_secret_${randomHex(10)}`,
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
    if (body.confirm !== "true" || !paymentMethod) return ok(intent);

    const needsAuthentication = paymentMethod === AUTHENTICATION_REQUIRED;
    if (
      DECLINES[paymentMethod] ||
      (needsAuthentication && body.off_session === "true" && state.offSessionAuthentication === "decline")
    ) {
      return decline(intent, paymentMethod);
    }
    if (needsAuthentication) {
      Object.assign(intent, {
        status: "requires_action",
        next_action: {
          type: "use_stripe_sdk",
          use_stripe_sdk: {
            type: "three_d_secure_redirect",
            stripe_js: `https://hooks.stripe.com/redirect/authenticate/${ids.next("src")}`,
            source: ids.next("src"),
          },
        },
      });
      return ok(intent);
    }
    authorize(intent);
    return ok(intent);
  }

  function capture(intent: StripeObject, body: Record<string, string>): SimResult {
    if (intent.status !== "requires_capture") return unexpectedState(intent, "captured", "requires_capture");
    const amount = body.amount_to_capture ? Number(body.amount_to_capture) : (intent.amount as number);
    Object.assign(intent, { status: "succeeded", amount_capturable: 0, amount_received: amount });
    return ok(intent);
  }

  function cancel(intent: StripeObject, body: Record<string, string>): SimResult {
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
    return ok(intent);
  }

  /** The customer finished 3-D Secure in Stripe.js: the intent is authorized (or paid). */
  function completeAuthentication(paymentIntentId: string): StripeObject {
    const intent = state.paymentIntents.get(paymentIntentId);
    if (!intent) throw new Error(`stripe-sim: no payment intent ${paymentIntentId}`);
    if (intent.status === "requires_payment_method") {
      // On-session retry with the same card, as Stripe.js's confirmCardPayment does.
      intent.payment_method = AUTHENTICATION_REQUIRED;
    }
    authorize(intent);
    return intent;
  }

  const handle: ResourceHandler = ({ method, id, action, body }) => {
    if (id === undefined) return method === "POST" && action === undefined ? create(body) : undefined;
    const intent = state.paymentIntents.get(id);
    if (!intent) return missing("payment_intent", id, "intent");
    if (method === "GET" && action === undefined) return ok(intent);
    if (method === "POST" && action === "capture") return capture(intent, body);
    if (method === "POST" && action === "cancel") return cancel(intent, body);
    return undefined;
  };

  return { handle, completeAuthentication };
}
