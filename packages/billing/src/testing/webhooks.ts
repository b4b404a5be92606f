import { createStripeEvent as simEvent } from "@spell/stripe-sim";
import Stripe from "stripe";

/** A webhook event envelope as Stripe sends it, in the SDK's API version. */
export function createStripeEvent(type: string, object: Record<string, unknown>, id?: string) {
  return simEvent(type, object, { apiVersion: Stripe.API_VERSION, ...(id !== undefined ? { id } : {}) });
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
  // The SDK's own generator, independent of the simulation's signer that the quick start uses.
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: text,
    secret,
    ...(timestamp !== undefined ? { timestamp } : {}),
  });
  return { body: Buffer.from(text), signature };
}
