import type { billingPortalResource } from "./resources/billing-portal.ts";
import type { checkoutSessionsResource } from "./resources/checkout-sessions.ts";
import type { CustomerActions } from "./sim.ts";
import type { Json, StripeSimState } from "./state.ts";
import { isTestPaymentMethod, TEST_PAYMENT_METHODS } from "./test-cards.ts";

/** A framework-neutral HTTP answer for the app to send as is. */
export interface HostedPageResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The form a hosted page posts back (urlencoded): the session and the chosen test card. */
export interface HostedPageForm {
  session?: string;
  paymentMethod?: string;
}

/**
 * Stripe's hosted Checkout (setup mode) and Billing Portal, reduced to what a person does there
 * in test mode: pick one of Stripe's test cards. No card data exists; the pages say so.
 */
export interface HostedPages {
  /** `GET <pages>/checkout?session=cs_…`. */
  checkoutPage(sessionId: string | undefined): HostedPageResponse;
  /** `POST <pages>/checkout`: completes the session, sends its events, 303 to `success_url`. */
  submitCheckout(form: HostedPageForm): Promise<HostedPageResponse>;
  /** `GET <pages>/portal?session=bps_…`. */
  portalPage(sessionId: string | undefined): HostedPageResponse;
  /** `POST <pages>/portal`: makes the card the customer's default, sends `customer.updated`, 303 back. */
  submitPortal(form: HostedPageForm): Promise<HostedPageResponse>;
}

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

function page(status: number, title: string, body: string): HostedPageResponse {
  return {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      // The pages run no script and load nothing; `form-action` stays open so the 303 to an allowed
      // return origin is not blocked.
      "content-security-policy": "default-src 'none'",
      "cache-control": "no-store",
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · LOCAL TEST payments</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
  };
}

const expired = () =>
  page(404, "Link expired", "<p>This local payment link is unknown, expired or already used.</p>");

const redirect = (location: string): HostedPageResponse => ({
  status: 303,
  headers: { location, "cache-control": "no-store" },
  body: "",
});

function cardForm(action: string, sessionId: string, submit: string, cancelUrl: string | null): string {
  const choices = Object.entries(TEST_PAYMENT_METHODS)
    .map(
      ([id, card], index) =>
        `<label><input type="radio" name="paymentMethod" value="${id}"${index === 0 ? " checked" : ""}> <code>${id}</code> — ${escapeHtml(card.label)}</label><br>`,
    )
    .join("\n");
  const cancel = cancelUrl ? ` <a href="${escapeHtml(cancelUrl)}">Cancel</a>` : "";
  return `<p><strong>LOCAL TEST PAYMENT PROVIDER — simulated Stripe, no real money, no real cards.</strong></p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="session" value="${escapeHtml(sessionId)}">
${choices}
<p><button type="submit">${escapeHtml(submit)}</button>${cancel}</p>
</form>`;
}

export function createHostedPages(deps: {
  pagesUrl: string | undefined;
  checkoutSessions: ReturnType<typeof checkoutSessionsResource>;
  billingPortal: ReturnType<typeof billingPortalResource>;
  customerActions: CustomerActions;
  state: StripeSimState;
}): HostedPages {
  const base = deps.pagesUrl ?? "";
  const unknownCard = () =>
    page(400, "Unknown test card", "<p>Pick one of the listed test payment methods.</p>");

  return {
    checkoutPage(sessionId) {
      const session = deps.checkoutSessions.open(sessionId);
      if (!session) return expired();
      return page(
        200,
        "Save a test card",
        cardForm(`${base}/checkout`, session.id, "Save test card", session.cancel_url as string | null),
      );
    },
    async submitCheckout(form) {
      const session = deps.checkoutSessions.open(form.session);
      if (!session) return expired();
      if (!isTestPaymentMethod(form.paymentMethod ?? "")) return unknownCard();
      await deps.customerActions.completeCheckout(session.id, form.paymentMethod ?? "");
      // Stripe fills the template so the return page can look the session up.
      return redirect(String(session.success_url ?? base).replaceAll("{CHECKOUT_SESSION_ID}", session.id));
    },
    portalPage(sessionId) {
      const session = deps.billingPortal.live(sessionId);
      if (!session) return expired();
      const customer = deps.state.customers.get(String(session.customer));
      const current = (customer?.invoice_settings as Json | undefined)?.default_payment_method;
      const now =
        typeof current === "string" ? `<p>Default card now: <code>${escapeHtml(current)}</code></p>` : "";
      return page(
        200,
        "Manage your test card",
        `${now}${cardForm(`${base}/portal`, session.id, "Make default", session.return_url as string | null)}`,
      );
    },
    async submitPortal(form) {
      const session = deps.billingPortal.live(form.session);
      if (!session) return expired();
      if (!isTestPaymentMethod(form.paymentMethod ?? "")) return unknownCard();
      await deps.customerActions.chooseDefaultInPortal(session.id, form.paymentMethod ?? "");
      return redirect(String(session.return_url ?? base));
    },
  };
}
