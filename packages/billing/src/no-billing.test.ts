import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createNoBilling } from "./no-billing.ts";
import { spellRecord, userRecord } from "./testing/index.ts";

describe("no-billing adapter", () => {
  const billing = createNoBilling();
  const user = userRecord("user-1");
  const spell = spellRecord({ amount: 100, currency: "usd" });

  it("quotes the spell's price and reports no payment method", () => {
    expect(billing.quote(spell, user)).toEqual({ amount: 100, currency: "usd" });
    expect(billing.hasPaymentMethod(user)).toBe(false);
  });

  it.each([
    ["charge", () => billing.charge({ executionId: "e", user, spell, price: spell.price })],
    [
      "checkout",
      () => billing.createCheckoutUrl(user, { successUrl: "https://a/", cancelUrl: "https://a/" }),
    ],
    ["portal", () => billing.createPortalUrl(user, { returnUrl: "https://a/" })],
    ["resume", () => billing.resumePayment(user, "pi_1")],
  ])("%s answers BILLING_NOT_CONFIGURED (501)", async (_name, call) => {
    const error = await call().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("BILLING_NOT_CONFIGURED");
    expect((error as AppError).status).toBe(501);
  });

  it("settles as a no-op and still applies the minimum table at publish", async () => {
    await expect(
      billing.settle({ billingRecordId: "b", paymentIntentId: "p", amount: 1, currency: "usd" }, "failed"),
    ).resolves.toEqual({ status: "not_charged", refunded: false });
    expect(() => billing.assertChargeable({ amount: 10, currency: "usd" })).toThrow(AppError);
  });
});
