export type { HostedPageForm, HostedPageResponse } from "@spell/stripe-sim";
export {
  LOCAL_AUTHENTICATE_HINT,
  LOCAL_PAGES_PATH,
  LOCAL_TEST_PAYMENT_METHODS,
  type LocalStripeBilling,
  type LocalStripeBillingOptions,
  type LocalTestPaymentMethod,
  type LocalTestRoutes,
  startLocalStripeBilling,
} from "./local-stripe.ts";
export { assertChargeable, MINIMUM_CHARGE } from "./minimum.ts";
export { createNoBilling } from "./no-billing.ts";
export {
  createPrepaidBilling,
  type PrepaidBilling,
  type PrepaidBillingOptions,
} from "./prepaid/prepaid-billing.ts";
export {
  type AutoReload,
  LEDGER_ENTRY_KINDS,
  type LedgerAccount,
  type LedgerEntry,
  type LedgerEntryKind,
  type LedgerStore,
  type ReserveRequest,
  type ReserveResult,
  type SpendLimits,
  type TopUpCredit,
} from "./prepaid/store.ts";
export {
  createStripeTopUps,
  type StripeTopUpsOptions,
  TOP_UP_KIND,
  type TopUpChargeRequest,
  type TopUpIntent,
  type TopUpProvider,
} from "./prepaid/top-ups.ts";
export { MICROS_PER_MINOR_UNIT, priceMicros } from "./prepaid/units.ts";
export {
  SETTLEMENT_QUEUE,
  type SettlementWorker,
  type SettlementWorkerOptions,
  startSettlementWorker,
} from "./settlement-worker.ts";
export { RECORD_TRANSITIONS } from "./status.ts";
export {
  BILLING_RECORD_STATUSES,
  type BillingCustomer,
  type BillingRecord,
  type BillingRecordStatus,
  type BillingStore,
  type NewBillingRecord,
  type SettledResult,
  type Settlement,
  type SettlementAction,
} from "./store.ts";
export {
  createStripeBilling,
  PAYMENT_METHOD_HINT,
  parseStripeApiBase,
  type SettlementQueue,
  type StripeBilling,
  type StripeBillingOptions,
  type WebhookResult,
} from "./stripe-billing.ts";
export { HANDLED_WEBHOOK_EVENTS } from "./webhook.ts";
