import { randomHex } from "./ids.ts";
import type { Json, SimResult, StripeObject } from "./state.ts";

/** Stripe's error body: `{ error: { type, code, message, doc_url, request_log_url, … } }`. */
export function stripeError(status: number, error: Json): SimResult {
  return {
    status,
    body: {
      error: {
        doc_url:
          typeof error.code === "string" ? `https://stripe.com/docs/error-codes/${error.code}` : undefined,
        request_log_url: `https://dashboard.stripe.com/test/logs/req_${randomHex(7)}`,
        ...error,
      },
    },
  };
}

export const missing = (kind: string, id: string, param: string): SimResult =>
  stripeError(404, {
    code: "resource_missing",
    message: `No such ${kind}: '${id}'`,
    param,
    type: "invalid_request_error",
  });

export const unexpectedState = (intent: StripeObject, action: string, allowed: string): SimResult =>
  stripeError(400, {
    code: "payment_intent_unexpected_state",
    message: `This PaymentIntent could not be ${action} because it has a status of ${String(intent.status)}. Only a PaymentIntent with one of the following statuses may be ${action}: ${allowed}.`,
    payment_intent: intent,
    type: "invalid_request_error",
  });

export const unrecognized = (method: string, path: string): SimResult =>
  stripeError(404, {
    message: `Unrecognized request URL (${method}: ${path}).`,
    type: "invalid_request_error",
  });

export const ok = (body: Json): SimResult => ({ status: 200, body });
