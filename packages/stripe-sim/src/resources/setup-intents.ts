import { missing, ok } from "../errors.ts";
import { now, randomHex } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/** `/v1/setup_intents`: made by setup-mode Checkout, read back when its webhook arrives. */
export function setupIntentsResource(ctx: ResourceContext) {
  function create(customer: string | null): StripeObject {
    const id = ctx.ids.next("seti");
    const setupIntent: StripeObject = {
      id,
      object: "setup_intent",
      application: null,
      automatic_payment_methods: null,
      cancellation_reason: null,
      client_secret: `${id}_secret_${randomHex(8)}`,
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
    ctx.state.setupIntents.set(id, setupIntent);
    return setupIntent;
  }

  const handle: ResourceHandler = ({ method, id, action }) => {
    if (method !== "GET" || id === undefined || action !== undefined) return undefined;
    const setupIntent = ctx.state.setupIntents.get(id);
    return setupIntent ? ok(setupIntent) : missing("setup_intent", id, "intent");
  };

  return { handle, create };
}
