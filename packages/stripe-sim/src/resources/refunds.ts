import { missing, ok, stripeError } from "../errors.ts";
import { nested } from "../form.ts";
import { now } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/** `POST /v1/refunds`: gives back a captured PaymentIntent (all of it unless `amount`). */
export function refundsResource(ctx: ResourceContext) {
  const handle: ResourceHandler = ({ method, id, body }) => {
    if (method !== "POST" || id !== undefined) return undefined;
    const intentId = body.payment_intent ?? "";
    const intent = ctx.state.paymentIntents.get(intentId);
    if (!intent) return missing("payment_intent", intentId, "payment_intent");
    if (intent.status !== "succeeded") {
      return stripeError(400, {
        code: "charge_not_refundable",
        message: "This PaymentIntent does not have a successful charge to refund.",
        type: "invalid_request_error",
      });
    }
    const refund: StripeObject = {
      id: ctx.ids.next("re"),
      object: "refund",
      amount: body.amount ? Number(body.amount) : intent.amount,
      balance_transaction: ctx.ids.next("txn"),
      charge: intent.latest_charge,
      created: now(),
      currency: intent.currency,
      destination_details: {
        card: { reference_status: "pending", reference_type: "acquirer_reference_number", type: "refund" },
        type: "card",
      },
      metadata: nested(body, "metadata"),
      payment_intent: intent.id,
      reason: body.reason ?? null,
      receipt_number: null,
      source_transfer_reversal: null,
      status: "succeeded",
      transfer_reversal: null,
    };
    ctx.state.refunds.set(refund.id, refund);
    return ok(refund);
  };
  return { handle };
}
