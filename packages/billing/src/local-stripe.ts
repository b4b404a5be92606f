import { randomBytes } from "node:crypto";
import { AppError } from "@spell/contracts";
import type { UserRecord } from "@spell/engine";
import {
  createStripeSim,
  type HostedPageForm,
  type HostedPageResponse,
  isTestPaymentMethod,
  startStripeSimServer,
  TEST_PAYMENT_METHODS,
  type TestPaymentMethod,
} from "@spell/stripe-sim";
import type { BillingStore } from "./store.ts";
import { createStripeBilling, type StripeBilling } from "./stripe-billing.ts";

/** Stripe's test payment methods the quick start offers, with what each does. */
export const LOCAL_TEST_PAYMENT_METHODS = TEST_PAYMENT_METHODS;
export type LocalTestPaymentMethod = TestPaymentMethod;

/** Where the app serves the simulated Checkout (`/checkout`) and portal (`/portal`) pages. */
export const LOCAL_PAGES_PATH = "/local-billing";

export const LOCAL_AUTHENTICATE_HINT =
  "POST /api/billing/local/authenticate, then POST /api/billing/confirm-intent";

export interface LocalStripeBillingOptions {
  store: BillingStore;
  allowedReturnOrigins: string[];
  /** The app's own public URL (`http://localhost:8787`); the simulated hosted pages live under it. */
  publicBaseUrl: string;
  /** The app's production flag: the local provider refuses to exist in production. */
  production: boolean;
}

/** The quick start's dev-only routes, framework-neutral; the app mounts them. */
export interface LocalTestRoutes {
  /** `GET /local-billing/checkout?session=…`: the simulated Checkout page where a person picks a test card. */
  checkoutPage(sessionId: string | undefined): HostedPageResponse;
  /** `POST /local-billing/checkout` (urlencoded `session`, `paymentMethod`): saves it, 303 back. */
  completeCheckout(form: HostedPageForm): Promise<HostedPageResponse>;
  /** `GET /local-billing/portal?session=…`: the simulated Billing Portal. */
  portalPage(sessionId: string | undefined): HostedPageResponse;
  /** `POST /local-billing/portal`: makes the picked card the default, 303 back. */
  completePortal(form: HostedPageForm): Promise<HostedPageResponse>;
  /** `POST /api/billing/local/attach` `{paymentMethod}`: Checkout without a browser. */
  attach(
    user: UserRecord,
    paymentMethod: string,
  ): Promise<{ ok: true; paymentMethod: LocalTestPaymentMethod }>;
  /**
   * `POST /api/billing/local/authenticate` `{paymentIntentId}`: stands in for the 3-D Secure step
   * Stripe.js would show; afterwards `confirm-intent` finishes the execution.
   */
  authenticate(user: UserRecord, paymentIntentId: string): Promise<{ ok: true; paymentIntentId: string }>;
}

export type LocalStripeBilling = StripeBilling & {
  routes: LocalTestRoutes;
  /** The simulated Stripe's API (`http://127.0.0.1:<port>`), for a look with curl. */
  stripeApiUrl: string;
  close(): Promise<void>;
};

/**
 * The LOCAL TEST payment provider of the quick start: the real Stripe adapter talking to a
 * simulated Stripe on loopback, started here. Charge, settle and resume are the adapter's own; a
 * card saved on the simulated Checkout page reaches Spell as a signed `checkout.session.completed`
 * webhook, verified and applied by the adapter like one from Stripe. No money moves, no card exists.
 */
export async function startLocalStripeBilling(
  options: LocalStripeBillingOptions,
): Promise<LocalStripeBilling> {
  if (options.production) {
    throw new Error("The local test payment provider cannot run in production; configure Stripe instead");
  }
  const { store } = options;
  const baseUrl = options.publicBaseUrl.replace(/\/+$/, "");
  // A fresh secret per process: only the simulation started here can sign events this process accepts.
  const webhookSecret = `whsec_local_${randomBytes(24).toString("hex")}`;
  const sim = createStripeSim({
    idTag: "local",
    hostedPagesUrl: `${baseUrl}${LOCAL_PAGES_PATH}`,
    webhook: {
      secret: webhookSecret,
      deliver: (payload, signature) => billing.handleWebhook(Buffer.from(payload), signature),
    },
  });
  const server = await startStripeSimServer({ sim });
  const billing = createStripeBilling({
    secretKey: "sk_test_local_simulation",
    webhookSecret,
    store,
    // The app's own pages (its `/billing/return`) are always a safe place to come back to.
    allowedReturnOrigins: [...options.allowedReturnOrigins, new URL(baseUrl).origin],
    apiBase: server.apiBase,
    requiresActionHint: LOCAL_AUTHENTICATE_HINT,
  });

  const routes: LocalTestRoutes = {
    checkoutPage: sim.hostedPages.checkoutPage,
    completeCheckout: sim.hostedPages.submitCheckout,
    portalPage: sim.hostedPages.portalPage,
    completePortal: sim.hostedPages.submitPortal,
    async attach(user, paymentMethod) {
      if (!isTestPaymentMethod(paymentMethod)) {
        throw new AppError("VALIDATION_ERROR", "Unknown test payment method", {
          field: "paymentMethod",
          allowed: Object.keys(TEST_PAYMENT_METHODS),
        });
      }
      // What a browser does: a Checkout session from the adapter, completed on the simulated page.
      const url = await billing.createCheckoutUrl(user, {
        successUrl: `${baseUrl}/`,
        cancelUrl: `${baseUrl}/`,
      });
      const sessionId = new URL(url).searchParams.get("session") ?? "";
      await sim.customerActions.completeCheckout(sessionId, paymentMethod);
      return { ok: true, paymentMethod };
    },
    async authenticate(user, paymentIntentId) {
      const intent = sim.state.paymentIntents.get(paymentIntentId);
      if (!intent) throw new AppError("NOT_FOUND", "No such payment intent", { paymentIntentId });
      const { stripeCustomerId } = await store.getCustomer(user.id);
      const metadata = intent.metadata as Record<string, string>;
      if (metadata.user_id !== user.id || stripeCustomerId === null || intent.customer !== stripeCustomerId) {
        throw new AppError("FORBIDDEN", "This payment belongs to another user", { paymentIntentId });
      }
      if (intent.status === "requires_capture" || intent.status === "succeeded") {
        return { ok: true, paymentIntentId };
      }
      const lastError = intent.last_payment_error as { code?: string } | null;
      const waiting =
        intent.status === "requires_action" ||
        (intent.status === "requires_payment_method" && lastError?.code === "authentication_required");
      if (!waiting) {
        throw new AppError("VALIDATION_ERROR", "This payment does not wait for authentication", {
          paymentIntentId,
          status: intent.status,
        });
      }
      await sim.customerActions.authenticate(paymentIntentId);
      return { ok: true, paymentIntentId };
    },
  };

  return {
    ...billing,
    async handleWebhook() {
      throw new AppError(
        "VALIDATION_ERROR",
        "The local test payment provider takes no webhooks over HTTP: its simulated Stripe delivers them in-process",
        { reason: "local-test-provider" },
      );
    },
    routes,
    stripeApiUrl: server.url,
    close: server.close,
  };
}
