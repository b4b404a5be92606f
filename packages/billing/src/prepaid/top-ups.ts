import { createHash } from "node:crypto";
import { AppError } from "@spell/contracts";
import Stripe from "stripe";
import { toAppError } from "../stripe-billing.ts";

/** A top-up PaymentIntent as the prepaid adapter needs it. */
export interface TopUpIntent {
  id: string;
  status: "succeeded" | "processing" | "requires_action" | "failed";
  /** Minor units. */
  amount: number;
  currency: string;
  /** `metadata.user_id`: whose balance it credits. */
  userId: string | null;
  clientSecret: string | null;
}

export interface TopUpChargeRequest {
  userId: string;
  customerId: string;
  paymentMethodId: string;
  amount: number;
  currency: string;
  /** The payment provider's idempotency key: a retry returns the same PaymentIntent. */
  idempotencyKey: string;
  description: string;
}

export interface TopUpRefundRequest {
  paymentIntentId: string;
  /** Minor units. */
  amount: number;
  idempotencyKey: string;
}

/** A webhook event the prepaid ledger acts on. */
export type TopUpWebhookEvent =
  | { type: "succeeded"; intent: TopUpIntent }
  /** `charge.refunded`: `amountRefunded` is Stripe's running total for the charge, minor units. */
  | { type: "refunded"; paymentIntentId: string; amountRefunded: number };

/** Where top-ups are charged: Stripe (`createStripeTopUps`), or a fake in tests. */
export interface TopUpProvider {
  /** Throws BILLING_FAILED on a decline, SERVICE_UNAVAILABLE when unreachable. */
  charge(request: TopUpChargeRequest): Promise<TopUpIntent>;
  /**
   * Refunds part of a top-up on the card (idempotent by key). Throws BILLING_FAILED when Stripe
   * refuses it for good, SERVICE_UNAVAILABLE when it cannot be reached (retry with the same key).
   */
  refund(request: TopUpRefundRequest): Promise<{ id: string; status: "succeeded" | "pending" }>;
  /**
   * Verifies a webhook delivery and returns what it says about top-ups (`payment_intent.succeeded`
   * of a top-up, `charge.refunded` of any charge), null for any other event. Throws
   * VALIDATION_ERROR on a bad signature.
   */
  webhookEvent?(rawBody: Buffer, signature: string | undefined): TopUpWebhookEvent | null;
}

/** `metadata.kind` of a top-up PaymentIntent, so webhooks tell them from per-use charges. */
export const TOP_UP_KIND = "spell_top_up";

export interface StripeTopUpsOptions {
  secretKey: string;
  /** Set to credit top-ups from `payment_intent.succeeded` webhooks. */
  webhookSecret?: string | undefined;
  apiBase?: { host: string; port?: number; protocol?: "http" | "https" } | undefined;
  maxNetworkRetries?: number;
}

function toTopUpIntent(intent: Stripe.PaymentIntent): TopUpIntent {
  const status =
    intent.status === "succeeded"
      ? "succeeded"
      : intent.status === "processing"
        ? "processing"
        : intent.status === "requires_action" || intent.status === "requires_confirmation"
          ? "requires_action"
          : "failed";
  return {
    id: intent.id,
    status,
    amount: intent.amount,
    currency: intent.currency,
    userId: intent.metadata.kind === TOP_UP_KIND ? (intent.metadata.user_id ?? null) : null,
    clientSecret: intent.client_secret,
  };
}

/** Stripe refuses idempotency keys over 255 characters. */
function boundedKey(key: string): string {
  return key.length <= 255 ? key : `topup:sha256:${createHash("sha256").update(key).digest("hex")}`;
}

/**
 * Top-ups through Stripe: a PaymentIntent confirmed at once on the saved card (`off_session`,
 * automatic capture), tagged `metadata.kind = spell_top_up` with the user's id.
 */
export function createStripeTopUps(options: StripeTopUpsOptions): TopUpProvider {
  const stripe = new Stripe(options.secretKey, {
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    telemetry: false,
    ...(options.apiBase
      ? {
          host: options.apiBase.host,
          ...(options.apiBase.port !== undefined ? { port: options.apiBase.port } : {}),
          ...(options.apiBase.protocol ? { protocol: options.apiBase.protocol } : {}),
        }
      : {}),
  });
  const webhookSecret = options.webhookSecret;
  return {
    async charge(request) {
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount: request.amount,
            currency: request.currency,
            customer: request.customerId,
            payment_method: request.paymentMethodId,
            off_session: true,
            confirm: true,
            description: request.description,
            metadata: { user_id: request.userId, kind: TOP_UP_KIND },
          },
          { idempotencyKey: boundedKey(request.idempotencyKey) },
        );
        return toTopUpIntent(intent);
      } catch (error) {
        if (error instanceof Stripe.errors.StripeCardError) {
          if (error.code === "authentication_required" && error.payment_intent) {
            return toTopUpIntent(error.payment_intent);
          }
          throw new AppError("BILLING_FAILED", "The top-up was declined", {
            declineCode: error.decline_code ?? error.code ?? null,
          });
        }
        if (error instanceof Stripe.errors.StripeIdempotencyError) {
          throw new AppError("IDEMPOTENCY_CONFLICT", "This idempotency key was used for another top-up", {});
        }
        throw toAppError(error);
      }
    },
    async refund(request) {
      try {
        const refund = await stripe.refunds.create(
          {
            payment_intent: request.paymentIntentId,
            amount: request.amount,
            metadata: { kind: TOP_UP_KIND },
          },
          { idempotencyKey: boundedKey(request.idempotencyKey) },
        );
        if (refund.status === "failed" || refund.status === "canceled") {
          throw new AppError("BILLING_FAILED", "Stripe did not carry out the refund", {
            refundId: refund.id,
            reason: refund.failure_reason ?? refund.status,
          });
        }
        return { id: refund.id, status: refund.status === "succeeded" ? "succeeded" : "pending" };
      } catch (error) {
        if (error instanceof AppError) throw error;
        // Refused for good (not refundable, more than is left): the caller gives the balance back.
        if (error instanceof Stripe.errors.StripeInvalidRequestError) {
          throw new AppError("BILLING_FAILED", "Stripe refused the refund", {
            reason: error.code ?? "invalid_request",
          });
        }
        throw toAppError(error);
      }
    },
    ...(webhookSecret
      ? {
          webhookEvent(rawBody: Buffer, signature: string | undefined): TopUpWebhookEvent | null {
            if (!signature) {
              throw new AppError("VALIDATION_ERROR", "Missing Stripe-Signature header", {
                reason: "unsigned",
              });
            }
            let event: Stripe.Event;
            try {
              event = stripe.webhooks.constructEvent(rawBody, signature, webhookSecret, 300);
            } catch (error) {
              throw new AppError("VALIDATION_ERROR", "Invalid webhook signature", {
                reason: error instanceof Error ? error.message : "invalid",
              });
            }
            if (event.type === "payment_intent.succeeded") {
              const intent = toTopUpIntent(event.data.object);
              return intent.userId !== null ? { type: "succeeded", intent } : null;
            }
            if (event.type === "charge.refunded") {
              const charge = event.data.object;
              const intent =
                typeof charge.payment_intent === "string" ? charge.payment_intent : charge.payment_intent?.id;
              return intent
                ? { type: "refunded", paymentIntentId: intent, amountRefunded: charge.amount_refunded }
                : null;
            }
            return null;
          },
        }
      : {}),
  };
}
