import type Stripe from "stripe";
import type { BillingRecord, BillingRecordStatus, BillingStore } from "./store.ts";

/**
 * The states a record may move to a status from. Webhooks arrive late, twice or out of order;
 * without this a stale `payment_intent.succeeded` could turn a refund back into a charge.
 */
export const RECORD_TRANSITIONS: Readonly<Record<BillingRecordStatus, readonly BillingRecordStatus[]>> = {
  pending: ["requires_action"],
  requires_action: ["failed"],
  succeeded: ["pending", "requires_action", "failed"],
  failed: ["pending", "requires_action"],
  canceled: ["pending", "requires_action", "failed"],
  refunded: ["pending", "succeeded"],
};

/** The record status for a PaymentIntent's state (manual capture: `requires_capture` is authorized). */
export function statusOfIntent(intent: Stripe.PaymentIntent): {
  status: BillingRecordStatus;
  failureCode: string | null;
} {
  const failureCode = intent.last_payment_error?.decline_code ?? intent.last_payment_error?.code ?? null;
  switch (intent.status) {
    case "succeeded":
      return { status: "succeeded", failureCode: null };
    case "requires_capture":
    case "processing":
      return { status: "pending", failureCode: null };
    case "requires_action":
    case "requires_confirmation":
      return { status: "requires_action", failureCode: null };
    case "canceled":
      return { status: "canceled", failureCode };
    case "requires_payment_method":
      // Off-session, a card that needs 3-D Secure is declined with `authentication_required`:
      // the customer can still complete it on-session with the intent's client secret.
      return failureCode === "authentication_required"
        ? { status: "requires_action", failureCode }
        : { status: "failed", failureCode };
    default:
      return { status: "failed", failureCode };
  }
}

/** Moves `record` to `status` when the transition table allows it; returns the current row. */
export async function applyRecordStatus(
  store: BillingStore,
  record: BillingRecord,
  status: BillingRecordStatus,
  failureCode: string | null,
): Promise<BillingRecord> {
  if (record.status === status) return record;
  const updated = await store.updateRecordStatus(
    record.paymentIntentId,
    { status, failureCode },
    RECORD_TRANSITIONS[status],
  );
  return updated ?? (await store.findRecordByPaymentIntent(record.paymentIntentId)) ?? record;
}
