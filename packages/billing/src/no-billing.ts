import { AppError } from "@spell/contracts";
import type { Billing } from "@spell/engine";
import { assertChargeable } from "./minimum.ts";

function notConfigured(): never {
  throw new AppError("BILLING_NOT_CONFIGURED", "Billing is not configured on this server", {});
}

/**
 * The adapter for a server without a payment provider: free spells run, priced ones answer
 * BILLING_NOT_CONFIGURED, and publishing still applies the provider's minimums so a spell priced
 * today keeps working once Stripe is configured.
 */
export function createNoBilling(): Billing {
  return {
    quote: (spell) => ({ ...spell.price }),
    hasPaymentMethod: () => false,
    charge: async () => notConfigured(),
    settle: async () => ({ status: "not_charged" as const, refunded: false }),
    createCheckoutUrl: async () => notConfigured(),
    createPortalUrl: async () => notConfigured(),
    resumePayment: async () => notConfigured(),
    assertChargeable,
  };
}
