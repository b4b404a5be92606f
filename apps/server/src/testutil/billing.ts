import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createFakeStripe,
  createStripeEvent,
  type FakeStripe,
  signWebhookPayload,
} from "@spell/billing/testing";
import type { Database } from "@spell/db";
import { createStripeSim, type StripeSim, startStripeSimServer } from "@spell/stripe-sim";
import { setupServer } from "msw/node";
import type { EnvSource } from "../env.ts";
import { type Caller, type Harness, startHarness } from "./harness.ts";
import { call, type JsonResponse } from "./http.ts";
import { pricedApiSpell } from "./spells.ts";

export const WEBHOOK_SECRET = "whsec_spell_api_test_0123456789";
export const RETURN_ORIGIN = "https://app.spell.test";
/** A `.test` host never resolves: if msw ever let a request through, it could not leave the machine. */
const STRIPE_BASE = "https://api.stripe.test";

export const STRIPE_ENV: EnvSource = {
  SPELL_BILLING: "stripe",
  STRIPE_SECRET_KEY: "sk_test_spell_api",
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  STRIPE_API_BASE: STRIPE_BASE,
  SPELL_BILLING_RETURN_ORIGINS: RETURN_ORIGIN,
  SPELL_SIGNING_KEY: "signing-key-for-api-spells-0123456789",
};

/** A real HTTP upstream on 127.0.0.1 for api spells: counts runs, and fails on demand. */
export interface CountingUpstream {
  url: string;
  host: string;
  /** Requests received, i.e. how many times an api spell pointed here actually ran. */
  runs(): number;
  /** The next requests answer HTTP 500 (the spell's run fails after payment). */
  failing: boolean;
  /** Each answer is held this long (a slow upstream: the window in which a run is in flight). */
  delayMs: number;
  /** Requests received whose answer is still held back. */
  inFlight(): number;
  close(): Promise<void>;
}

export async function startCountingUpstream(): Promise<CountingUpstream> {
  let runs = 0;
  let inFlight = 0;
  const upstream = {
    failing: false,
    delayMs: 0,
    runs: () => runs,
    inFlight: () => inFlight,
  } as CountingUpstream;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      runs += 1;
      const run = runs;
      const failing = upstream.failing;
      const answer = () => {
        inFlight -= 1;
        if (failing) {
          res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
          return;
        }
        const input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ run, input }));
      };
      inFlight += 1;
      if (upstream.delayMs > 0) setTimeout(answer, upstream.delayMs);
      else answer();
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  upstream.url = `http://127.0.0.1:${port}/run`;
  upstream.host = `127.0.0.1:${port}`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}

/** `checkout-url` for `caller`: the Checkout Session id its URL names (`sessionId` captures it). */
async function openCheckout(h: Harness, caller: Caller, sessionId: RegExp): Promise<string> {
  const checkout = await h.call("POST", "/api/billing/checkout-url", {
    token: caller.token,
    body: { successUrl: `${RETURN_ORIGIN}/ok`, cancelUrl: `${RETURN_ORIGIN}/cancel` },
  });
  if (checkout.status !== 200) throw new Error(`checkout-url: ${JSON.stringify(checkout.body)}`);
  const id = sessionId.exec(checkout.body.url)?.[1];
  if (!id) throw new Error(`no session id in ${checkout.body.url}`);
  return id;
}

/**
 * Saves `pm_card_visa` the way Stripe reports a card saved by a SetupIntent: the Customer made by
 * `checkout-url` on `checkoutUrl`, then the signed `setup_intent.succeeded` webhook POSTed to
 * `webhookUrl` (another process on the same database, where a test shows they share it).
 */
export async function saveCardBySetupIntent(options: {
  database: Database;
  caller: Caller;
  checkoutUrl: string;
  webhookUrl?: string;
}): Promise<void> {
  const { database, caller, checkoutUrl, webhookUrl = checkoutUrl } = options;
  const checkout = await call(checkoutUrl, "POST", "/api/billing/checkout-url", {
    token: caller.token,
    body: { successUrl: `${RETURN_ORIGIN}/ok`, cancelUrl: `${RETURN_ORIGIN}/no` },
  });
  if (checkout.status !== 200) throw new Error(`checkout-url: ${JSON.stringify(checkout.body)}`);
  const { stripeCustomerId } = await database.billing.getCustomer(caller.id);
  const event = createStripeEvent("setup_intent.succeeded", {
    id: `seti_${caller.id}`,
    object: "setup_intent",
    customer: stripeCustomerId,
    payment_method: "pm_card_visa",
    status: "succeeded",
    metadata: {},
  });
  const signed = signWebhookPayload(event, WEBHOOK_SECRET);
  const webhook = await call(webhookUrl, "POST", "/api/billing/webhook", {
    body: signed.body.toString("utf8"),
    headers: { "stripe-signature": signed.signature },
  });
  if (webhook.status !== 200) throw new Error(`webhook: ${JSON.stringify(webhook.body)}`);
}

export interface StripeHarness {
  h: Harness;
  fake: FakeStripe;
  upstream: CountingUpstream;
  /** Priced at 75 usd: the api spell whose runs the upstream counts. */
  countedSlug: string;
  /** Saves `paymentMethod` the way a person does: checkout-url, Checkout completed, signed webhook. */
  saveCard(caller: Caller, paymentMethod?: string): Promise<void>;
  /** POSTs a signed (or not) webhook delivery over HTTP. */
  deliver(
    payload: unknown,
    options?: { signature?: string | null; timestamp?: number },
  ): Promise<JsonResponse>;
  execute(caller: Caller, spell: string, input?: unknown, idempotencyKey?: string): Promise<JsonResponse>;
  /** POST /v1/payment_intents requests seen by the fake since the start. */
  intentCreates(): number;
  close(): Promise<void>;
}

/** `count` executions of `fn` at once. */
export function concurrently<T>(count: number, fn: (index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => fn(index)));
}

/**
 * The whole API over HTTP on a fresh database with the Stripe adapter, its SDK answered by the
 * fake Stripe through msw (every other non-loopback request is an error), and a counting upstream.
 */
export async function startStripeHarness(
  options: { wasm?: boolean; env?: EnvSource } = {},
): Promise<StripeHarness> {
  const fake = createFakeStripe({ baseUrl: STRIPE_BASE });
  const msw = setupServer(...fake.handlers);
  msw.listen({
    onUnhandledRequest(request, print) {
      // The test's own calls to the app under test go through untouched.
      if (new URL(request.url).hostname === "127.0.0.1") return;
      print.error();
    },
  });
  const upstream = await startCountingUpstream();
  let h: Harness;
  try {
    h = await startHarness({
      env: { ...STRIPE_ENV, SPELL_API_ALLOWED_HOSTS: upstream.host, ...options.env },
      ...(options.wasm ? { wasm: true } : {}),
    });
  } catch (error) {
    msw.close();
    await upstream.close();
    throw error;
  }
  const countedSlug = "counted-paid@v1";
  await h.publish(pricedApiSpell(countedSlug, upstream.url, 75));

  const deliver: StripeHarness["deliver"] = (payload, options = {}) => {
    const signed = signWebhookPayload(payload, WEBHOOK_SECRET, options.timestamp);
    const signature = options.signature === undefined ? signed.signature : options.signature;
    return h.call("POST", "/api/billing/webhook", {
      body: signed.body.toString("utf8"),
      headers: signature === null ? {} : { "stripe-signature": signature },
    });
  };

  return {
    h,
    fake,
    upstream,
    countedSlug,
    deliver,
    async saveCard(caller, paymentMethod = "pm_card_visa") {
      const sessionId = await openCheckout(h, caller, /\/pay\/(cs_test_[A-Za-z0-9]+)/);
      const session = fake.completeCheckout(sessionId, paymentMethod);
      const delivered = await deliver(createStripeEvent("checkout.session.completed", session));
      if (delivered.status !== 200) throw new Error(`webhook: ${JSON.stringify(delivered.body)}`);
    },
    execute: (caller, spell, input = {}, idempotencyKey) =>
      h.call("POST", "/api/spell/execute", {
        token: caller.token,
        body: { spell, input },
        ...(idempotencyKey ? { headers: { "idempotency-key": idempotencyKey } } : {}),
      }),
    intentCreates: () => fake.requestsTo("/v1/payment_intents", "POST").length,
    async close() {
      await h.close();
      msw.close();
      await upstream.close();
    },
  };
}

export interface PrepaidSimHarness {
  h: Harness;
  /** The in-repo Stripe simulation the server's Stripe adapter talks to (its state is Stripe's truth). */
  sim: StripeSim;
  /** Saves `paymentMethod` as the user's default card: Checkout completed, webhook delivered. */
  saveCard(caller: Caller, paymentMethod?: string): Promise<void>;
  /** POSTs a signed webhook delivery of `type` with `object`, as Stripe would. */
  deliver(type: string, object: Record<string, unknown>): Promise<JsonResponse>;
  close(): Promise<void>;
}

/**
 * Prepaid mode on the real Stripe adapter, against the in-repo Stripe simulation on loopback
 * (`@spell/stripe-sim`): top-ups and auto-reloads are real `confirm=true` PaymentIntents there, and
 * the simulation's webhooks (Checkout completed) reach the server signed, as Stripe's do.
 */
export async function startPrepaidSimHarness(env: EnvSource = {}): Promise<PrepaidSimHarness> {
  let serverUrl: string | undefined;
  const sim = createStripeSim({
    webhook: {
      secret: WEBHOOK_SECRET,
      async deliver(payload, signature) {
        if (!serverUrl) throw new Error("webhook before the server started");
        const answer = await fetch(`${serverUrl}/api/billing/webhook`, {
          method: "POST",
          headers: { "content-type": "application/json", "stripe-signature": signature },
          body: payload,
        });
        return answer.json();
      },
    },
  });
  const stripe = await startStripeSimServer({ sim });
  let h: Harness;
  try {
    h = await startHarness({
      env: {
        ...STRIPE_ENV,
        STRIPE_API_BASE: stripe.url,
        SPELL_BILLING_MODE: "prepaid",
        ...env,
      },
    });
  } catch (error) {
    await stripe.close();
    throw error;
  }
  serverUrl = h.url;
  return {
    h,
    sim,
    async saveCard(caller, paymentMethod = "pm_card_visa") {
      const sessionId = await openCheckout(h, caller, /(cs_[A-Za-z0-9_]+)/);
      await sim.customerActions.completeCheckout(sessionId, paymentMethod);
    },
    deliver(type, object) {
      const signed = signWebhookPayload(createStripeEvent(type, object), WEBHOOK_SECRET);
      return h.call("POST", "/api/billing/webhook", {
        body: signed.body.toString("utf8"),
        headers: { "stripe-signature": signed.signature },
      });
    },
    async close() {
      await h.close();
      await stripe.close();
    },
  };
}
