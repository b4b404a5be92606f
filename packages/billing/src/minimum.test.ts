import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { assertChargeable, MINIMUM_CHARGE } from "./minimum.ts";

describe("minimum charge", () => {
  it.each([
    ["usd", 50],
    ["eur", 50],
    ["gbp", 30],
    ["jpy", 50],
    ["cad", 50],
    ["aud", 50],
    ["chf", 50],
    ["hkd", 400],
    ["mxn", 1000],
    ["huf", 17500],
  ])("%s: Stripe's minimum is %i minor units", (currency, minimum) => {
    expect(MINIMUM_CHARGE[currency]).toBe(minimum);
  });

  it.each([
    { amount: 0, currency: "usd", code: null },
    { amount: 0, currency: "xyz", code: null },
    { amount: 1, currency: "usd", code: "PRICE_BELOW_MINIMUM" },
    { amount: 49, currency: "usd", code: "PRICE_BELOW_MINIMUM" },
    { amount: 50, currency: "usd", code: null },
    { amount: 29, currency: "gbp", code: "PRICE_BELOW_MINIMUM" },
    { amount: 30, currency: "gbp", code: null },
    { amount: 49, currency: "jpy", code: "PRICE_BELOW_MINIMUM" },
    { amount: 50, currency: "jpy", code: null },
    { amount: 399, currency: "hkd", code: "PRICE_BELOW_MINIMUM" },
    { amount: 100, currency: "xyz", code: "VALIDATION_ERROR" },
  ])("$amount $currency → $code", ({ amount, currency, code }) => {
    const run = () => assertChargeable({ amount, currency });
    if (code === null) {
      expect(run).not.toThrow();
      return;
    }
    const error = (() => {
      try {
        run();
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(code);
    if (code === "PRICE_BELOW_MINIMUM") {
      expect((error as AppError).details).toEqual({ currency, minimum: MINIMUM_CHARGE[currency], amount });
    }
  });
});
