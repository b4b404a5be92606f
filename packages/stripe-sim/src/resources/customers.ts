import { missing, ok } from "../errors.ts";
import { nested } from "../form.ts";
import { now, randomHex } from "../ids.ts";
import type { Json, StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/** `/v1/customers`: create, retrieve, update (metadata and the default payment method). */
export function customersResource(ctx: ResourceContext) {
  function create(metadata: Record<string, string>): StripeObject {
    const customer: StripeObject = {
      id: ctx.ids.next("cus"),
      object: "customer",
      address: null,
      balance: 0,
      created: now(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: null,
      email: null,
      invoice_prefix: randomHex(4).toUpperCase(),
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
    ctx.state.customers.set(customer.id, customer);
    return customer;
  }

  function setDefaultPaymentMethod(customer: StripeObject, paymentMethodId: string | null): void {
    (customer.invoice_settings as Json).default_payment_method = paymentMethodId;
  }

  const handle: ResourceHandler = ({ method, id, action, body }) => {
    if (action !== undefined) return undefined;
    if (id === undefined) return method === "POST" ? ok(create(nested(body, "metadata"))) : undefined;
    const customer = ctx.state.customers.get(id);
    if (!customer) return missing("customer", id, "id");
    if (method === "POST") {
      const defaultPm = body["invoice_settings[default_payment_method]"];
      if (defaultPm !== undefined) setDefaultPaymentMethod(customer, defaultPm || null);
      Object.assign(customer.metadata as Json, nested(body, "metadata"));
    }
    return ok(customer);
  };

  return { handle, create, setDefaultPaymentMethod };
}
