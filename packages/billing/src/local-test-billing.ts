import { randomBytes } from "node:crypto";
import { AppError } from "@spell/contracts";
import type { Charge, ChargeRequest, UserRecord } from "@spell/engine";
import { assertChargeable } from "./minimum.ts";
import { createReturnUrlCheck } from "./return-urls.ts";
import { RECORD_TRANSITIONS } from "./status.ts";
import type { BillingRecord, BillingRecordStatus, BillingStore } from "./store.ts";
import { PAYMENT_METHOD_HINT, type StripeBilling } from "./stripe-billing.ts";

/**
 * The LOCAL TEST payment provider: the billing port without Stripe, for the quick start only. No
 * money moves and no card data exists; a person picks one of Stripe's test payment methods on a
 * local page and gets Stripe's test-mode outcomes for it.
 */
export const LOCAL_TEST_PAYMENT_METHODS = {
  pm_card_visa: "Visa — the payment succeeds",
  pm_card_chargeDeclined: "Declined — generic_decline",
  pm_card_authenticationRequired: "3-D Secure — the payment needs the customer's action",
} as const;

export type LocalTestPaymentMethod = keyof typeof LOCAL_TEST_PAYMENT_METHODS;

export interface LocalTestBillingOptions {
  store: BillingStore;
  allowedReturnOrigins: string[];
  /** The API's own public URL (`http://localhost:3000`); the checkout page is served under it. */
  publicBaseUrl: string;
  /** The app's production flag: the local provider refuses to exist in production. */
  production: boolean;
  /** How long a local checkout link stays usable (default one hour). */
  checkoutTtlMs?: number;
}

/** A framework-neutral HTTP answer for the API to send as is. */
export interface LocalHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface LocalTestRoutes {
  /** `GET /local-billing/checkout?session=…`: the page where a person picks a test card. */
  checkoutPage(sessionId: string | undefined): LocalHttpResponse;
  /** `POST /local-billing/checkout` (urlencoded form `session`, `paymentMethod`): saves it, 303 back. */
  completeCheckout(form: { session?: string; paymentMethod?: string }): Promise<LocalHttpResponse>;
  /** `POST /api/billing/local/attach` `{paymentMethod}` (authenticated): the same without a browser. */
  attach(userId: string, paymentMethod: string): Promise<{ ok: true; paymentMethod: LocalTestPaymentMethod }>;
  /**
   * `POST /api/billing/local/authenticate` `{paymentIntentId}` (authenticated): stands in for the
   * 3-D Secure step Stripe.js would show; afterwards `confirm-intent` finishes the execution.
   */
  authenticate(userId: string, paymentIntentId: string): Promise<{ ok: true; paymentIntentId: string }>;
}

export type LocalTestBilling = StripeBilling & { routes: LocalTestRoutes };

export const LOCAL_CHECKOUT_PATH = "/local-billing/checkout";

interface CheckoutSession {
  userId: string;
  successUrl: string;
  cancelUrl: string;
  expiresAt: number;
}

const isTestPaymentMethod = (value: string): value is LocalTestPaymentMethod =>
  Object.hasOwn(LOCAL_TEST_PAYMENT_METHODS, value);

const escapeHtml = (value: string) =>
  value.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

export function createLocalTestBilling(options: LocalTestBillingOptions): LocalTestBilling {
  if (options.production) {
    throw new Error("The local test payment provider cannot run in production; configure Stripe instead");
  }
  const { store } = options;
  const checkReturnUrl = createReturnUrlCheck(options.allowedReturnOrigins);
  const baseUrl = options.publicBaseUrl.replace(/\/+$/, "");
  const ttlMs = options.checkoutTtlMs ?? 60 * 60 * 1000;
  // Checkout links live in this process only: the quick start runs one API process.
  const sessions = new Map<string, CheckoutSession>();

  async function ensureCustomer(userId: string): Promise<string> {
    const existing = (await store.getCustomer(userId)).stripeCustomerId;
    if (existing) return existing;
    return store.setCustomerIdIfUnset(userId, `cus_local_${randomBytes(9).toString("hex")}`);
  }

  async function saveTestCard(userId: string, paymentMethod: string): Promise<LocalTestPaymentMethod> {
    if (!isTestPaymentMethod(paymentMethod)) {
      throw new AppError("VALIDATION_ERROR", "Unknown test payment method", {
        field: "paymentMethod",
        allowed: Object.keys(LOCAL_TEST_PAYMENT_METHODS),
      });
    }
    await store.setDefaultPaymentMethod(await ensureCustomer(userId), paymentMethod);
    return paymentMethod;
  }

  function openSession(userId: string, successUrl: string, cancelUrl: string): string {
    const now = Date.now();
    for (const [id, session] of sessions) if (session.expiresAt < now) sessions.delete(id);
    const id = `cs_local_${randomBytes(16).toString("hex")}`;
    sessions.set(id, { userId, successUrl, cancelUrl, expiresAt: now + ttlMs });
    return `${baseUrl}${LOCAL_CHECKOUT_PATH}?session=${id}`;
  }

  function liveSession(sessionId: string | undefined): CheckoutSession | null {
    const session = sessionId ? sessions.get(sessionId) : undefined;
    return session && session.expiresAt >= Date.now() ? session : null;
  }

  const chargeOf = (record: BillingRecord): Charge => ({
    billingRecordId: record.id,
    paymentIntentId: record.paymentIntentId,
    amount: record.amount,
    currency: record.currency,
  });

  async function move(record: BillingRecord, status: BillingRecordStatus): Promise<BillingRecord> {
    if (record.status === status) return record;
    return (
      (await store.updateRecordStatus(record.paymentIntentId, { status }, RECORD_TRANSITIONS[status])) ??
      record
    );
  }

  function outcomeOf(record: BillingRecord): Charge {
    switch (record.status) {
      case "pending":
      case "succeeded":
        return chargeOf(record);
      case "requires_action":
        throw new AppError("PAYMENT_REQUIRES_ACTION", "The payment needs the customer to authenticate", {
          paymentIntentId: record.paymentIntentId,
          clientSecret: `${record.paymentIntentId}_secret_local`,
          billingRecordId: record.id,
          hint: "POST /api/billing/local/authenticate, then POST /api/billing/confirm-intent",
        });
      default:
        throw new AppError("BILLING_FAILED", "The payment was declined", {
          declineCode: record.failureCode,
          billingRecordId: record.id,
        });
    }
  }

  async function charge({ executionId, user, spell, price }: ChargeRequest): Promise<Charge> {
    const { stripeCustomerId, defaultPaymentMethodId } = await store.getCustomer(user.id);
    if (!stripeCustomerId || !defaultPaymentMethodId) {
      throw new AppError("PAYMENT_METHOD_REQUIRED", "Save a payment method before running a priced spell", {
        hint: PAYMENT_METHOD_HINT,
      });
    }
    // Derived from the execution, like Stripe's idempotency key: charging it again finds this row.
    const paymentIntentId = `pi_local_${executionId.replace(/[^A-Za-z0-9]/g, "")}`;
    const declined = defaultPaymentMethodId === "pm_card_chargeDeclined";
    const status: BillingRecordStatus = declined
      ? "failed"
      : defaultPaymentMethodId === "pm_card_authenticationRequired"
        ? "requires_action"
        : "pending";
    const record = await store.createRecord({
      userId: user.id,
      spellId: spell.id,
      executionId,
      amount: price.amount,
      currency: price.currency,
      paymentIntentId,
      status,
      failureCode: declined ? "generic_decline" : null,
    });
    return outcomeOf(record);
  }

  async function ownedRecord(user: { id: string }, paymentIntentId: string): Promise<BillingRecord> {
    const record = await store.findRecordByPaymentIntent(paymentIntentId);
    if (!record) throw new AppError("NOT_FOUND", "No such payment intent", { paymentIntentId });
    if (record.userId !== user.id) {
      throw new AppError("FORBIDDEN", "This payment belongs to another user", { paymentIntentId });
    }
    return record;
  }

  const routes: LocalTestRoutes = {
    checkoutPage(sessionId) {
      const session = liveSession(sessionId);
      if (!session || !sessionId) {
        return html(
          404,
          page("Checkout link expired", "<p>This local checkout link is unknown or expired.</p>"),
        );
      }
      const choices = Object.entries(LOCAL_TEST_PAYMENT_METHODS)
        .map(
          ([id, label], index) =>
            `<label><input type="radio" name="paymentMethod" value="${id}"${index === 0 ? " checked" : ""}> <code>${id}</code> — ${escapeHtml(label)}</label><br>`,
        )
        .join("\n");
      const body = `<p><strong>LOCAL TEST PAYMENT PROVIDER — no real money, no real cards.</strong></p>
<form method="post" action="${escapeHtml(`${baseUrl}${LOCAL_CHECKOUT_PATH}`)}">
<input type="hidden" name="session" value="${escapeHtml(sessionId)}">
${choices}
<p><button type="submit">Save test card</button> <a href="${escapeHtml(session.cancelUrl)}">Cancel</a></p>
</form>`;
      return html(200, page("Save a test card", body));
    },
    async completeCheckout(form) {
      const session = liveSession(form.session);
      if (!session || !form.session) {
        return html(
          404,
          page("Checkout link expired", "<p>This local checkout link is unknown or expired.</p>"),
        );
      }
      try {
        await saveTestCard(session.userId, form.paymentMethod ?? "");
      } catch (error) {
        if (error instanceof AppError && error.code === "VALIDATION_ERROR") {
          return html(400, page("Unknown test card", "<p>Pick one of the listed test payment methods.</p>"));
        }
        throw error;
      }
      sessions.delete(form.session);
      return { status: 303, headers: { location: session.successUrl }, body: "" };
    },
    async attach(userId, paymentMethod) {
      return { ok: true, paymentMethod: await saveTestCard(userId, paymentMethod) };
    },
    async authenticate(userId, paymentIntentId) {
      const record = await ownedRecord({ id: userId }, paymentIntentId);
      if (record.status !== "requires_action" && record.status !== "pending") {
        throw new AppError("VALIDATION_ERROR", "This payment does not wait for authentication", {
          paymentIntentId,
          status: record.status,
        });
      }
      await move(record, "pending");
      return { ok: true, paymentIntentId };
    },
  };

  return {
    quote: (spell) => ({ ...spell.price }),
    hasPaymentMethod: (user) => user.hasPaymentMethod,
    charge,
    async settle(done, outcome) {
      const record = await store.findRecordByPaymentIntent(done.paymentIntentId);
      if (record) await move(record, outcome === "succeeded" ? "succeeded" : "canceled");
      return { refunded: outcome === "failed" };
    },
    async createCheckoutUrl(user: UserRecord, urls) {
      const successUrl = checkReturnUrl("successUrl", urls.successUrl);
      const cancelUrl = checkReturnUrl("cancelUrl", urls.cancelUrl);
      await ensureCustomer(user.id);
      return openSession(user.id, successUrl, cancelUrl);
    },
    async createPortalUrl(user: UserRecord, urls) {
      const returnUrl = checkReturnUrl("returnUrl", urls.returnUrl);
      await ensureCustomer(user.id);
      // The local "portal" is the same page: changing the test card is all there is to manage.
      return openSession(user.id, returnUrl, returnUrl);
    },
    async resumePayment(user, paymentIntentId) {
      const record = await ownedRecord(user, paymentIntentId);
      const executionId = record.executionId ?? "";
      if (record.status === "pending" || record.status === "succeeded") {
        return { executionId, status: "succeeded", charge: chargeOf(record) };
      }
      if (record.status === "requires_action")
        return { executionId, status: "requires_action", charge: null };
      return { executionId, status: "failed", charge: null };
    },
    assertChargeable,
    async handleWebhook() {
      throw new AppError("VALIDATION_ERROR", "The local test payment provider receives no webhooks", {
        reason: "local-test-provider",
      });
    },
    routes,
  };
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Spell LOCAL TEST payments</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function html(status: number, body: string): LocalHttpResponse {
  return {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'",
      "cache-control": "no-store",
    },
    body,
  };
}
