import { AppError, type Price } from "@spell/contracts";

/**
 * Stripe's minimum charge per presentment currency, in minor units
 * (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Stripe declines every
 * charge below these, so a spell priced under them could never be paid. The amounts are not
 * proportional (GBP 0.30, HUF 175.00, CZK 15.00), so they are carried, not derived. A currency
 * missing here is refused for priced spells rather than guessed.
 */
export const MINIMUM_CHARGE: Readonly<Record<string, number>> = Object.freeze({
  usd: 50,
  aed: 200,
  aud: 50,
  bgn: 100,
  brl: 50,
  cad: 50,
  chf: 50,
  czk: 1500,
  dkk: 250,
  eur: 50,
  gbp: 30,
  hkd: 400,
  huf: 17500,
  inr: 50,
  jpy: 50,
  mxn: 1000,
  myr: 200,
  nok: 300,
  nzd: 50,
  pln: 200,
  ron: 200,
  sek: 300,
  sgd: 50,
  thb: 1000,
});

/**
 * Publish-time check. Free spells (amount 0) never reach the payment provider and pass in any
 * currency; a priced spell must use a currency from the table and reach its minimum.
 */
export function assertChargeable(price: Price): void {
  if (price.amount === 0) return;
  const minimum = MINIMUM_CHARGE[price.currency];
  if (minimum === undefined) {
    throw new AppError("VALIDATION_ERROR", `Priced spells cannot use currency "${price.currency}"`, {
      currency: price.currency,
      supportedCurrencies: Object.keys(MINIMUM_CHARGE),
    });
  }
  if (price.amount < minimum) {
    throw new AppError(
      "PRICE_BELOW_MINIMUM",
      `The price ${price.amount} ${price.currency} is below the payment provider's minimum charge of ${minimum}`,
      { currency: price.currency, minimum, amount: price.amount },
    );
  }
}
