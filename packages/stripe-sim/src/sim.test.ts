import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createStripeSim, type SimResponse, type StripeSim } from "./sim.ts";

const post = (
  sim: StripeSim,
  path: string,
  form: Record<string, string>,
  idempotencyKey: string | null = null,
) => sim.handle({ method: "POST", path, body: new URLSearchParams(form).toString(), idempotencyKey });
const get = (sim: StripeSim, path: string) =>
  sim.handle({ method: "GET", path, body: "", idempotencyKey: null });

function json(answer: SimResponse) {
  if (answer.kind !== "response") throw new Error("the connection was dropped");
  return answer;
}

function charge(sim: StripeSim, paymentMethod: string, extra: Record<string, string> = {}) {
  const customer = sim.createCustomer({ user_id: "u1" });
  return json(
    post(sim, "/v1/payment_intents", {
      amount: "150",
      currency: "usd",
      customer: customer.id,
      payment_method: paymentMethod,
      confirm: "true",
      off_session: "true",
      capture_method: "manual",
      "metadata[execution_id]": "exe-1",
      ...extra,
    }),
  );
}

describe("payment intents with Stripe's test cards", () => {
  it("pm_card_visa is authorized (manual capture), then captured", () => {
    const sim = createStripeSim();
    const created = charge(sim, "pm_card_visa");
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      object: "payment_intent",
      status: "requires_capture",
      amount_capturable: 150,
      metadata: { execution_id: "exe-1" },
    });
    const captured = json(post(sim, `/v1/payment_intents/${created.body.id}/capture`, {}));
    expect(captured.body).toMatchObject({ status: "succeeded", amount_received: 150, amount_capturable: 0 });
    const again = json(post(sim, `/v1/payment_intents/${created.body.id}/capture`, {}));
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({
      code: "payment_intent_unexpected_state",
      type: "invalid_request_error",
    });
  });

  it.each([
    ["pm_card_chargeDeclined", "card_declined", "generic_decline"],
    ["pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"],
    ["pm_card_authenticationRequired", "authentication_required", "authentication_required"],
  ])("%s off-session: 402 card_error %s/%s with the intent", (paymentMethod, code, declineCode) => {
    const sim = createStripeSim();
    const answer = charge(sim, paymentMethod);
    expect(answer.status).toBe(402);
    expect(answer.body.error).toMatchObject({
      type: "card_error",
      code,
      decline_code: declineCode,
      payment_intent: {
        status: "requires_payment_method",
        last_payment_error: { code, decline_code: declineCode },
      },
    });
  });

  it("3-D Secure on-session is requires_action; completing it authorizes the intent", () => {
    const sim = createStripeSim();
    sim.state.offSessionAuthentication = "requires_action";
    const answer = charge(sim, "pm_card_authenticationRequired");
    expect(answer.body).toMatchObject({ status: "requires_action", next_action: { type: "use_stripe_sdk" } });
    expect(sim.completeAuthentication(String(answer.body.id))).toMatchObject({ status: "requires_capture" });
  });

  it("a refund needs a captured intent; cancel releases an uncaptured one", () => {
    const sim = createStripeSim();
    const intent = charge(sim, "pm_card_visa").body;
    const early = json(post(sim, "/v1/refunds", { payment_intent: String(intent.id) }));
    expect(early.body.error).toMatchObject({ code: "charge_not_refundable" });
    expect(json(post(sim, `/v1/payment_intents/${intent.id}/cancel`, {})).body).toMatchObject({
      status: "canceled",
    });
  });
});

describe("idempotency", () => {
  it("replays the first response for a key, unchanged, and creates nothing more", () => {
    const sim = createStripeSim();
    const customer = { "metadata[user_id]": "u1" };
    const first = json(post(sim, "/v1/customers", customer, "customer-create:u1"));
    const second = json(post(sim, "/v1/customers", customer, "customer-create:u1"));
    expect(second.body).toEqual(first.body);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(sim.state.customers.size).toBe(1);
  });

  it("refuses the same key with other parameters (idempotency_error)", () => {
    const sim = createStripeSim();
    post(sim, "/v1/customers", { "metadata[user_id]": "u1" }, "k");
    const other = json(post(sim, "/v1/customers", { "metadata[user_id]": "u2" }, "k"));
    expect(other.status).toBe(400);
    expect(other.body.error).toMatchObject({ type: "idempotency_error" });
    expect(other.headers["idempotent-replayed"]).toBeUndefined();
  });

  it("with idempotencyKeys set, forgets the oldest key first: a replay of it acts anew", () => {
    const sim = createStripeSim({ idempotencyKeys: 2 });
    const first = json(post(sim, "/v1/customers", { "metadata[user_id]": "u1" }, "k1"));
    post(sim, "/v1/customers", { "metadata[user_id]": "u2" }, "k2");
    post(sim, "/v1/customers", { "metadata[user_id]": "u3" }, "k3");
    expect(sim.state.idempotency.size).toBe(2);
    const again = json(post(sim, "/v1/customers", { "metadata[user_id]": "u1" }, "k1"));
    expect(again.headers["idempotent-replayed"]).toBeUndefined();
    expect(again.body.id).not.toBe(first.body.id);
    const kept = json(post(sim, "/v1/customers", { "metadata[user_id]": "u3" }, "k3"));
    expect(kept.headers["idempotent-replayed"]).toBe("true");
  });
});

describe("recording", () => {
  it("recordRequests: false keeps no request list and still answers", () => {
    const sim = createStripeSim({ recordRequests: false });
    const answer = json(post(sim, "/v1/customers", { "metadata[user_id]": "u1" }));
    expect(answer.status).toBe(200);
    expect(sim.requests).toHaveLength(0);
    expect(createStripeSim().requests).toHaveLength(0);
  });
});

describe("failure injection", () => {
  it("500, 429 and network fail before processing; network-after-commit saves under the key first", () => {
    const sim = createStripeSim();
    const form = { "metadata[user_id]": "u1" };
    sim.failNext("/v1/customers", "500");
    sim.failNext("/v1/customers", "429");
    sim.failNext("/v1/customers", "network");
    expect(json(post(sim, "/v1/customers", form, "k")).body.error).toMatchObject({ type: "api_error" });
    expect(json(post(sim, "/v1/customers", form, "k")).body.error).toMatchObject({ code: "rate_limit" });
    expect(post(sim, "/v1/customers", form, "k")).toEqual({ kind: "drop" });
    expect(sim.state.customers.size).toBe(0);

    sim.failNext("/v1/customers", "network-after-commit");
    expect(post(sim, "/v1/customers", form, "k")).toEqual({ kind: "drop" });
    const retried = json(post(sim, "/v1/customers", form, "k"));
    expect(retried.headers["idempotent-replayed"]).toBe("true");
    expect(sim.state.customers.size).toBe(1);
    expect(sim.requestsTo("/v1/customers", "POST")).toHaveLength(5);
  });

  it("a `*` in the planned path stands for one segment: the next capture fails, whatever its intent", () => {
    const sim = createStripeSim();
    const intent = json(charge(sim, "pm_card_visa")).body;
    sim.failNext("/v1/payment_intents/*/capture", "500");
    expect(json(post(sim, `/v1/payment_intents/${intent.id}`, {})).status).not.toBe(500);
    expect(json(post(sim, `/v1/payment_intents/${intent.id}/capture`, {})).status).toBe(500);
    expect(sim.state.paymentIntents.get(String(intent.id))?.status).toBe("requires_capture");
    expect(json(post(sim, `/v1/payment_intents/${intent.id}/capture`, {})).body.status).toBe("succeeded");
  });

  it("answers an unknown route with Stripe's invalid_request_error 404", () => {
    const answer = json(get(createStripeSim(), "/v1/subscriptions"));
    expect(answer.status).toBe(404);
    expect(answer.body.error).toMatchObject({
      type: "invalid_request_error",
      message: expect.stringContaining("Unrecognized"),
    });
  });

  it("reset forgets everything", () => {
    const sim = createStripeSim();
    charge(sim, "pm_card_visa");
    sim.failNext("/v1/customers", "500");
    sim.reset();
    expect(sim.requests).toHaveLength(0);
    expect(sim.state.paymentIntents.size + sim.state.customers.size + sim.state.failures.length).toBe(0);
  });
});

describe("hosted pages and webhook events", () => {
  function simWithEndpoint() {
    const deliveries: { payload: string; signature: string }[] = [];
    const sim = createStripeSim({
      idTag: "local",
      hostedPagesUrl: "http://127.0.0.1:8787/local-billing/",
      webhook: {
        secret: "whsec_x",
        deliver: async (payload, signature) => {
          deliveries.push({ payload, signature });
        },
      },
    });
    return { sim, deliveries };
  }

  it("Checkout: the page lists the test cards; submitting sends signed events and redirects", async () => {
    const { sim, deliveries } = simWithEndpoint();
    const customer = sim.createCustomer();
    const session = json(
      post(sim, "/v1/checkout/sessions", {
        mode: "setup",
        currency: "usd",
        customer: customer.id,
        success_url: "http://127.0.0.1:8787/ok?s={CHECKOUT_SESSION_ID}",
        cancel_url: "http://127.0.0.1:8787/no",
      }),
    ).body;
    expect(session.id).toMatch(/^cs_local_/);
    expect(session.url).toBe(`http://127.0.0.1:8787/local-billing/checkout?session=${session.id}`);
    const page = sim.hostedPages.checkoutPage(String(session.id));
    expect(page.status).toBe(200);
    expect(page.body).toContain("LOCAL TEST PAYMENT PROVIDER");
    expect(page.body).toContain('action="http://127.0.0.1:8787/local-billing/checkout"');

    expect(
      (await sim.hostedPages.submitCheckout({ session: String(session.id), paymentMethod: "nope" })).status,
    ).toBe(400);
    const done = await sim.hostedPages.submitCheckout({
      session: String(session.id),
      paymentMethod: "pm_card_visa",
    });
    expect(done).toMatchObject({
      status: 303,
      headers: { location: `http://127.0.0.1:8787/ok?s=${session.id}` },
    });
    expect(sim.hostedPages.checkoutPage(String(session.id)).status).toBe(404);
    expect(sim.state.paymentMethods.get("pm_card_visa")).toMatchObject({
      customer: customer.id,
      card: { last4: "4242" },
    });

    const events = deliveries.map(({ payload }) => JSON.parse(payload));
    expect(events.map((event) => event.type)).toEqual([
      "setup_intent.succeeded",
      "checkout.session.completed",
    ]);
    expect(events[1].data.object).toMatchObject({ id: session.id, status: "complete" });
    for (const { payload, signature } of deliveries) {
      const [, timestamp, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
      expect(v1).toBe(createHmac("sha256", "whsec_x").update(`${timestamp}.${payload}`).digest("hex"));
    }
    expect(json(get(sim, `/v1/events/${events[0].id}`)).body).toMatchObject({
      type: "setup_intent.succeeded",
    });
  });

  it("the portal changes the customer's default card and sends customer.updated", async () => {
    const { sim, deliveries } = simWithEndpoint();
    const customer = sim.createCustomer();
    const session = json(
      post(sim, "/v1/billing_portal/sessions", { customer: customer.id, return_url: "http://a/b" }),
    ).body;
    expect(session.url).toBe(`http://127.0.0.1:8787/local-billing/portal?session=${session.id}`);
    const done = await sim.hostedPages.submitPortal({
      session: String(session.id),
      paymentMethod: "pm_card_chargeDeclined",
    });
    expect(done).toMatchObject({ status: 303, headers: { location: "http://a/b" } });
    const [event] = deliveries.map(({ payload }) => JSON.parse(payload));
    expect(event).toMatchObject({
      type: "customer.updated",
      data: {
        object: { id: customer.id, invoice_settings: { default_payment_method: "pm_card_chargeDeclined" } },
      },
    });
  });

  it("authenticate sends payment_intent.amount_capturable_updated for a manual-capture intent", async () => {
    const { sim, deliveries } = simWithEndpoint();
    const intent = charge(sim, "pm_card_authenticationRequired").body.error as {
      payment_intent: { id: string };
    };
    await sim.customerActions.authenticate(intent.payment_intent.id);
    expect(JSON.parse(deliveries[0]?.payload ?? "{}")).toMatchObject({
      type: "payment_intent.amount_capturable_updated",
      data: { object: { status: "requires_capture" } },
    });
  });
});
