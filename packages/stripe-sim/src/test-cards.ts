/**
 * Stripe's test payment methods and what each does in test mode. Any other payment method id
 * behaves like `pm_card_visa`, so tests may use ids of their own.
 */
export const TEST_PAYMENT_METHODS = {
  pm_card_visa: { label: "Visa — the payment succeeds", brand: "visa", last4: "4242" },
  pm_card_chargeDeclined: { label: "Declined — generic_decline", brand: "visa", last4: "0002" },
  pm_card_chargeDeclinedInsufficientFunds: {
    label: "Declined — insufficient_funds",
    brand: "visa",
    last4: "9995",
  },
  pm_card_authenticationRequired: {
    label: "3-D Secure — the payment needs the customer's action",
    brand: "visa",
    last4: "3184",
  },
} as const;

export type TestPaymentMethod = keyof typeof TEST_PAYMENT_METHODS;

export const isTestPaymentMethod = (value: string): value is TestPaymentMethod =>
  Object.hasOwn(TEST_PAYMENT_METHODS, value);

export const DECLINES: Readonly<Record<string, { code: string; declineCode: string; message: string }>> = {
  pm_card_chargeDeclined: {
    code: "card_declined",
    declineCode: "generic_decline",
    message: "Your card was declined.",
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: "card_declined",
    declineCode: "insufficient_funds",
    message: "Your card has insufficient funds.",
  },
};

export const AUTHENTICATION_REQUIRED: TestPaymentMethod = "pm_card_authenticationRequired";
