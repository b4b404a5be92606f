import { missing, ok } from "../errors.ts";
import { nested } from "../form.ts";
import { now, randomHex } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";
import type { paymentMethodsResource } from "./payment-methods.ts";
import type { setupIntentsResource } from "./setup-intents.ts";

/** `/v1/checkout/sessions`: create and retrieve; setup mode makes the SetupIntent that saves the card. */
export function checkoutSessionsResource(
  ctx: ResourceContext,
  deps: {
    setupIntents: ReturnType<typeof setupIntentsResource>;
    paymentMethods: ReturnType<typeof paymentMethodsResource>;
  },
) {
  const { state } = ctx;

  function create(body: Record<string, string>) {
    if (body.customer && !state.customers.has(body.customer)) {
      return missing("customer", body.customer, "customer");
    }
    const setupIntent = body.mode === "setup" ? deps.setupIntents.create(body.customer ?? null) : null;
    const id = ctx.ids.checkoutSession();
    const session: StripeObject = {
      id,
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
      url:
        ctx.hostedPagesUrl === undefined
          ? `https://checkout.stripe.com/c/pay/${id}#fid${randomHex(6)}`
          : `${ctx.hostedPagesUrl}/checkout?session=${id}`,
    };
    state.checkoutSessions.set(id, session);
    return ok(session);
  }

  /** The customer entered `paymentMethod` on the hosted page: the setup succeeded, the card is attached. */
  function complete(sessionId: string, paymentMethod: string): StripeObject {
    const session = state.checkoutSessions.get(sessionId);
    if (!session) throw new Error(`stripe-sim: no checkout session ${sessionId}`);
    const setupIntent = state.setupIntents.get(String(session.setup_intent));
    if (setupIntent) Object.assign(setupIntent, { status: "succeeded", payment_method: paymentMethod });
    if (typeof session.customer === "string") deps.paymentMethods.attach(paymentMethod, session.customer);
    Object.assign(session, { status: "complete" });
    return session;
  }

  /** Open and not expired: the hosted page may still be used. */
  function open(sessionId: string | undefined): StripeObject | null {
    const session = sessionId ? state.checkoutSessions.get(sessionId) : undefined;
    return session && session.status === "open" && Number(session.expires_at) >= now() ? session : null;
  }

  const handle: ResourceHandler = ({ method, id, action, body }) => {
    if (action !== undefined) return undefined;
    if (id === undefined) return method === "POST" ? create(body) : undefined;
    if (method !== "GET") return undefined;
    const session = state.checkoutSessions.get(id);
    return session ? ok(session) : missing("checkout.session", id, "session");
  };

  return { handle, complete, open };
}
