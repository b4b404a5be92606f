import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Engine, Session } from "../engine-types.ts";

/** A Checkout (setup mode) URL where the caller saves a card; Spell never sees card data. */
export async function checkoutUrl(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["checkoutUrl"]>[1],
): ReturnType<Engine["checkoutUrl"]> {
  admit(session, "user");
  return { ok: true, url: await context.billing.createCheckoutUrl(session.user, input) };
}

/** A billing-portal URL where the caller manages their saved cards. */
export async function portalUrl(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["portalUrl"]>[1],
): ReturnType<Engine["portalUrl"]> {
  admit(session, "user");
  return { ok: true, url: await context.billing.createPortalUrl(session.user, input) };
}
