import { randomBytes } from "node:crypto";
import Stripe from "stripe";

/** A webhook event envelope as Stripe sends it. */
export function createStripeEvent(type: string, object: Record<string, unknown>, id?: string) {
  return {
    id: id ?? `evt_${randomBytes(12).toString("hex")}`,
    object: "event",
    api_version: Stripe.API_VERSION,
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

/**
 * Serializes `payload` and signs it like Stripe (`Stripe-Signature: t=…,v1=…`); pass `timestamp`
 * (seconds) to make a stale signature.
 */
export function signWebhookPayload(
  payload: unknown,
  secret: string,
  timestamp?: number,
): { body: Buffer; signature: string } {
  const text = typeof payload === "string" ? payload : JSON.stringify(payload);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: text,
    secret,
    ...(timestamp !== undefined ? { timestamp } : {}),
  });
  return { body: Buffer.from(text), signature };
}
