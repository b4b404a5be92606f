import { missing, ok } from "../errors.ts";
import { now, randomHex } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import { isTestPaymentMethod, TEST_PAYMENT_METHODS } from "../test-cards.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/**
 * `/v1/payment_methods`: retrieve, attach, detach. Stripe's test ids (`pm_card_visa`) stand for
 * themselves here instead of being cloned into a new `pm_…`, so what a test saved is what it sees.
 */
export function paymentMethodsResource(ctx: ResourceContext) {
  function card(id: string): StripeObject {
    const known = isTestPaymentMethod(id) ? TEST_PAYMENT_METHODS[id] : TEST_PAYMENT_METHODS.pm_card_visa;
    return {
      id,
      object: "payment_method",
      allow_redisplay: "unspecified",
      billing_details: {
        address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
        email: null,
        name: null,
        phone: null,
      },
      card: {
        brand: known.brand,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
        country: "US",
        display_brand: known.brand,
        exp_month: 12,
        exp_year: new Date().getUTCFullYear() + 8,
        fingerprint: randomHex(8),
        funding: "credit",
        last4: known.last4,
        networks: { available: [known.brand], preferred: null },
        three_d_secure_usage: { supported: true },
        wallet: null,
      },
      created: now(),
      customer: null,
      livemode: false,
      metadata: {},
      type: "card",
    };
  }

  /** The payment method, made on first use: every id is a usable test card. */
  function get(id: string): StripeObject {
    let paymentMethod = ctx.state.paymentMethods.get(id);
    if (!paymentMethod) {
      paymentMethod = card(id);
      ctx.state.paymentMethods.set(id, paymentMethod);
    }
    return paymentMethod;
  }

  function attach(id: string, customer: string): StripeObject {
    const paymentMethod = get(id);
    paymentMethod.customer = customer;
    return paymentMethod;
  }

  const handle: ResourceHandler = ({ method, id, action, body }) => {
    if (id === undefined) return undefined;
    if (method === "GET" && action === undefined) return ok(get(id));
    if (method === "POST" && action === "attach") {
      if (!body.customer || !ctx.state.customers.has(body.customer)) {
        return missing("customer", body.customer ?? "", "customer");
      }
      return ok(attach(id, body.customer));
    }
    if (method === "POST" && action === "detach") {
      const paymentMethod = get(id);
      paymentMethod.customer = null;
      return ok(paymentMethod);
    }
    return undefined;
  };

  return { handle, get, attach };
}
