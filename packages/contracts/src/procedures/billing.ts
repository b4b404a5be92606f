import { z } from "zod";
import type { RouteContract } from "../common.ts";

const billing = (path: `/${string}`, summary: string) =>
  ({ method: "POST", path, summary, tags: ["billing"], access: "user" }) as const satisfies RouteContract;

export const checkoutUrlRoute = billing(
  "/billing/checkout-url",
  "A Stripe Checkout (setup mode) URL to save a card",
);
export const ZCheckoutUrlInput = z.object({ successUrl: z.url(), cancelUrl: z.url() });

export const portalUrlRoute = billing("/billing/portal-url", "A Stripe Billing Portal URL");
export const ZPortalUrlInput = z.object({ returnUrl: z.url() });

export const ZUrlOutput = z.object({ ok: z.literal(true), url: z.string() });

export const confirmIntentRoute = billing(
  "/billing/confirm-intent",
  "Finish an execution whose payment needed customer action",
);
export const ZConfirmIntentInput = z.object({ paymentIntentId: z.string().min(1).max(255) });
