import { createHmac } from "node:crypto";
import { missing, ok } from "../errors.ts";
import { now, randomHex } from "../ids.ts";
import type { StripeObject } from "../state.ts";
import type { ResourceContext, ResourceHandler } from "./context.ts";

/** The API version the simulation speaks (its `Stripe-Version` header and events' `api_version`). */
export const SIM_API_VERSION = "2026-10-28.endive";

/**
 * Where the simulation sends its events, as Stripe sends them to a webhook endpoint: the exact
 * payload and its `Stripe-Signature` header.
 */
export interface WebhookEndpoint {
  secret: string;
  deliver(payload: string, signature: string): Promise<unknown>;
}

/** A webhook event envelope as Stripe sends it. */
export function createStripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { id?: string; apiVersion?: string } = {},
): StripeObject {
  return {
    id: options.id ?? `evt_${randomHex(12)}`,
    object: "event",
    api_version: options.apiVersion ?? SIM_API_VERSION,
    created: now(),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

/** `Stripe-Signature: t=<seconds>,v1=<hex HMAC-SHA256 of "t.payload">`, Stripe's scheme. */
export function signStripePayload(payload: string, secret: string, timestamp: number = now()): string {
  const digest = createHmac("sha256", secret).update(`${timestamp}.${payload}`, "utf8").digest("hex");
  return `t=${timestamp},v1=${digest}`;
}

/** `GET /v1/events/:id`, and the events the simulation sends to its webhook endpoint. */
export function eventsResource(ctx: ResourceContext, endpoint: WebhookEndpoint | undefined) {
  /**
   * Records the event and, with an endpoint, delivers it and waits for the answer: the caller (a
   * customer action) finishes only once the app has seen what happened, so nothing races it.
   */
  async function emit(type: string, object: StripeObject): Promise<StripeObject> {
    // The object as it was when it happened, as in Stripe's event log.
    const event = createStripeEvent(type, structuredClone(object), { id: ctx.ids.next("evt") });
    ctx.state.events.set(event.id, event);
    if (endpoint) {
      const payload = JSON.stringify(event);
      await endpoint.deliver(payload, signStripePayload(payload, endpoint.secret));
    }
    return event;
  }

  const handle: ResourceHandler = ({ method, id, action }) => {
    if (method !== "GET" || id === undefined || action !== undefined) return undefined;
    const event = ctx.state.events.get(id);
    return event ? ok(event) : missing("event", id, "id");
  };

  return { handle, emit };
}
