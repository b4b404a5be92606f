import type Stripe from "stripe";
import { applyRecordStatus } from "./status.ts";
import type { BillingRecord, BillingStore } from "./store.ts";

export interface WebhookDeps {
  stripe: Stripe;
  store: BillingStore;
  recordIntent(
    intent: Stripe.PaymentIntent,
    fallback: { userId: string; spellId: string; executionId: string | null },
  ): Promise<BillingRecord>;
  updateFromIntent(intent: Stripe.PaymentIntent): Promise<void>;
}

/** The webhook event types Spell acts on; Stripe should be configured to send these. */
export const HANDLED_WEBHOOK_EVENTS = [
  "checkout.session.completed",
  "setup_intent.succeeded",
  "customer.updated",
  "payment_method.detached",
  "payment_intent.succeeded",
  "payment_intent.amount_capturable_updated",
  "payment_intent.payment_failed",
  "payment_intent.canceled",
  "charge.refunded",
] as const;

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === "string" ? value : (value?.id ?? null);

/** Applies one verified event; every branch is idempotent, so a redelivery changes nothing. */
export async function handleStripeEvent(event: Stripe.Event, deps: WebhookDeps): Promise<void> {
  const { stripe, store } = deps;

  async function saveDefaultPaymentMethod(customerId: string | null, paymentMethodId: string | null) {
    if (!customerId || !paymentMethodId) return;
    const known = await store.setDefaultPaymentMethod(customerId, paymentMethodId);
    if (!known) return;
    // So the Billing Portal shows the card Spell charges as the default one.
    await stripe.customers.update(customerId, {
      invoice_settings: { default_payment_method: paymentMethodId },
    });
  }

  switch (event.type) {
    case "checkout.session.completed": {
      const session = event.data.object;
      if (session.mode !== "setup") return;
      const setupIntentId = idOf(session.setup_intent);
      if (!setupIntentId) return;
      const setupIntent = await stripe.setupIntents.retrieve(setupIntentId);
      await saveDefaultPaymentMethod(
        idOf(setupIntent.customer) ?? idOf(session.customer),
        idOf(setupIntent.payment_method),
      );
      return;
    }
    case "setup_intent.succeeded": {
      const setupIntent = event.data.object;
      await saveDefaultPaymentMethod(idOf(setupIntent.customer), idOf(setupIntent.payment_method));
      return;
    }
    case "customer.updated": {
      // A default chosen in the Billing Portal; a cleared default is left to payment_method.detached.
      const customer = event.data.object;
      const paymentMethodId = idOf(customer.invoice_settings?.default_payment_method);
      if (paymentMethodId) await store.setDefaultPaymentMethod(customer.id, paymentMethodId);
      return;
    }
    case "payment_method.detached": {
      await store.clearDefaultPaymentMethod(event.data.object.id);
      return;
    }
    case "payment_intent.succeeded":
    case "payment_intent.amount_capturable_updated":
    case "payment_intent.payment_failed":
    case "payment_intent.canceled": {
      const intent = event.data.object;
      const { user_id: userId, spell_id: spellId, execution_id: executionId } = intent.metadata;
      // An intent Spell created but never recorded (the process died right after Stripe
      // answered) gets its record here; intents Spell did not create are ignored.
      if (userId && spellId && executionId && (await store.findRecordByPaymentIntent(intent.id)) === null) {
        const owner = await store.getCustomer(userId);
        if (owner.stripeCustomerId !== null && owner.stripeCustomerId === idOf(intent.customer)) {
          await deps.recordIntent(intent, { userId, spellId, executionId });
        }
        return;
      }
      await deps.updateFromIntent(intent);
      return;
    }
    case "charge.refunded": {
      const charge = event.data.object;
      const paymentIntentId = idOf(charge.payment_intent);
      if (!paymentIntentId || !charge.refunded) return;
      const record = await store.findRecordByPaymentIntent(paymentIntentId);
      if (record) await applyRecordStatus(store, record, "refunded", record.failureCode);
      return;
    }
    default:
      return;
  }
}
