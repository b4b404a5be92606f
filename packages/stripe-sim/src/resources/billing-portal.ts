import { missing, ok } from "../errors.ts";
import { now, randomHex } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/** A portal link is short-lived at Stripe too; the simulated page honours it for an hour. */
const PORTAL_SESSION_SECONDS = 3600;

/** `POST /v1/billing_portal/sessions`: a link where the customer manages their cards. */
export function billingPortalResource(ctx: ResourceContext) {
  const handle: ResourceHandler = ({ method, id, action, body }) => {
    if (method !== "POST" || id !== undefined || action !== undefined) return undefined;
    if (!body.customer || !ctx.state.customers.has(body.customer)) {
      return missing("customer", body.customer ?? "", "customer");
    }
    const sessionId = ctx.ids.next("bps");
    const session: StripeObject = {
      id: sessionId,
      object: "billing_portal.session",
      configuration: ctx.ids.next("bpc"),
      created: now(),
      customer: body.customer,
      flow: null,
      livemode: false,
      locale: null,
      on_behalf_of: null,
      return_url: body.return_url ?? null,
      url:
        ctx.hostedPagesUrl === undefined
          ? `https://billing.stripe.com/p/session/test_${randomHex(16)}`
          : `${ctx.hostedPagesUrl}/portal?session=${sessionId}`,
    };
    ctx.state.portalSessions.set(session.id, session);
    return ok(session);
  };

  function live(sessionId: string | undefined): StripeObject | null {
    const session = sessionId ? ctx.state.portalSessions.get(sessionId) : undefined;
    return session && Number(session.created) + PORTAL_SESSION_SECONDS >= now() ? session : null;
  }

  return { handle, live };
}
