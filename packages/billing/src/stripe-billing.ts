import { createHash } from "node:crypto";
import { AppError } from "@spell/contracts";
import type { Billing, Charge, ChargeRequest, SettleResult, UserRecord } from "@spell/engine";
import Stripe from "stripe";
import { assertChargeable } from "./minimum.ts";
import { createReturnUrlCheck } from "./return-urls.ts";
import { applyRecordStatus, RECORD_TRANSITIONS, statusOfIntent } from "./status.ts";
import type { BillingCustomer, BillingRecord, BillingRecordStatus, BillingStore } from "./store.ts";
import { handleStripeEvent } from "./webhook.ts";

export interface StripeBillingOptions {
  secretKey: string;
  webhookSecret: string;
  store: BillingStore;
  /** Origins (`https://app.example.com`) that Checkout and the portal may send the customer back to. */
  allowedReturnOrigins: string[];
  /** Points the SDK at a Stripe-compatible server (stripe-mock, a local fake) instead of api.stripe.com. */
  apiBase?: { host: string; port?: number; protocol?: "http" | "https" };
  /** Retries of the SDK on connection errors, 409 and 5xx; each retry reuses the idempotency key. */
  maxNetworkRetries?: number;
  /** Currency of the Checkout session that saves the card; Stripe requires one in setup mode. */
  checkoutCurrency?: string;
  /** Seconds a webhook signature stays valid (Stripe's default, 300). */
  webhookToleranceSeconds?: number;
  /**
   * `details.hint` of PAYMENT_REQUIRES_ACTION: how customers of this deployment authenticate when
   * it is not Stripe.js with the client secret (the quick start's simulated Stripe).
   */
  requiresActionHint?: string;
  /** One deadline for the charge step (PaymentIntent creation with the SDK's retries); default 15 s. */
  chargeDeadlineMs?: number;
  /** One deadline for the synchronous capture or cancel; past it the worker takes over. Default 15 s. */
  settleDeadlineMs?: number;
  /**
   * How long after its answer was stored an authorization is still captured (default 24 h, well
   * inside the ~7 days a card authorization lasts); past it the worker releases it instead.
   */
  captureWindowMs?: number;
  /**
   * Where failures of work done off the answer's path go (the settlement's `done` bookkeeping);
   * nothing is lost by them, the settlement worker converges. Default: one JSON line on stderr.
   */
  onBackgroundError?: (error: unknown, context: { step: string; paymentIntentId: string }) => void;
}

export interface WebhookResult {
  received: true;
  duplicate: boolean;
}

export type StripeBilling = Billing & {
  /** Verifies and applies one webhook delivery; `rawBody` must be the exact bytes Stripe sent. */
  handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<WebhookResult>;
  /**
   * Carries out one pending settlement (the worker's job): reads the PaymentIntent, captures,
   * cancels or refunds as the order and the capture window say, and records Stripe's state.
   * Throws while Stripe cannot be reached or the result cannot be recorded (the job retries).
   */
  runSettlement(paymentIntentId: string): Promise<void>;
  /** Where `settle` hands an order Stripe did not confirm (the settlement worker). */
  attachSettlementQueue(queue: SettlementQueue): void;
  /**
   * Resolves once the bookkeeping `settle` left running after its answer has ended (recorded or
   * failed and reported): for tests and for a graceful shutdown before the pool closes.
   */
  idle(): Promise<void>;
};

/** Receives settlements to retry; pg-boss in production (see settlement-worker.ts). */
export interface SettlementQueue {
  enqueue(paymentIntentId: string): Promise<void>;
}

/** First retry of a settlement Stripe did not confirm, and the cap of the backoff. */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 15 * 60_000;

export const PAYMENT_METHOD_HINT = "POST /api/billing/checkout-url";

/** `STRIPE_API_BASE=http://localhost:12111` → the `apiBase` option (for a local Stripe-compatible server). */
export function parseStripeApiBase(url: string): NonNullable<StripeBillingOptions["apiBase"]> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`STRIPE_API_BASE must be an http(s) URL, got ${parsed.protocol}`);
  }
  const protocol = parsed.protocol === "http:" ? "http" : "https";
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : protocol === "http" ? 80 : 443,
    protocol,
  };
}

/** The Stripe adapter of the engine's billing port: manual capture, one Customer per user. */
export function createStripeBilling(options: StripeBillingOptions): StripeBilling {
  const { store } = options;
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
  const checkReturnUrl = createReturnUrlCheck(options.allowedReturnOrigins);
  const checkoutCurrency = options.checkoutCurrency ?? "usd";
  const requiresAction = (intent: Stripe.PaymentIntent, record: BillingRecord) =>
    requiresActionError(intent, record, options.requiresActionHint);
  // Concurrent first calls in one process share one Stripe request; across processes the
  // idempotency key and the store's compare-and-set keep it to one Customer.
  const customerCreations = new Map<string, Promise<string>>();

  // Work left running after an answer (see `settle`): tracked so `idle` can wait for it.
  const background = new Set<Promise<void>>();
  const reportBackground =
    options.onBackgroundError ??
    ((error: unknown, context: { step: string; paymentIntentId: string }) => {
      process.stderr.write(
        `${JSON.stringify({ level: "warn", msg: "billing background step failed", ...context, error: describe(error) })}\n`,
      );
    });

  function inBackground(paymentIntentId: string, step: string, work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((error: unknown) => reportBackground(error, { step, paymentIntentId }))
      .finally(() => background.delete(tracked));
    background.add(tracked);
  }

  async function idle(): Promise<void> {
    while (background.size > 0) await Promise.allSettled([...background]);
  }

  async function ensureCustomer(userId: string): Promise<string> {
    const existing = (await store.getCustomer(userId)).stripeCustomerId;
    if (existing) return existing;
    let pending = customerCreations.get(userId);
    if (!pending) {
      pending = (async () => {
        const customer = await callStripe(() =>
          stripe.customers.create(
            { metadata: { user_id: userId } },
            { idempotencyKey: idempotencyKey("customer-create", userId) },
          ),
        );
        return store.setCustomerIdIfUnset(userId, customer.id);
      })().finally(() => customerCreations.delete(userId));
      customerCreations.set(userId, pending);
    }
    return pending;
  }

  async function recordIntent(
    intent: Stripe.PaymentIntent,
    fallback: { userId: string; spellId: string; executionId: string | null },
  ): Promise<BillingRecord> {
    const { status, failureCode } = statusOfIntent(intent);
    const record = await store.createRecord({
      userId: intent.metadata.user_id ?? fallback.userId,
      spellId: intent.metadata.spell_id ?? fallback.spellId,
      executionId: intent.metadata.execution_id ?? fallback.executionId,
      amount: intent.amount,
      currency: intent.currency,
      paymentIntentId: intent.id,
      status,
      failureCode,
    });
    return applyRecordStatus(store, record, status, failureCode);
  }

  function chargeOf(record: BillingRecord): Charge {
    return {
      billingRecordId: record.id,
      paymentIntentId: record.paymentIntentId,
      amount: record.amount,
      currency: record.currency,
    };
  }

  const chargeDeadlineMs = options.chargeDeadlineMs ?? 15_000;
  function charge(request: ChargeRequest): Promise<Charge> {
    // A hanging Stripe must not hold the request for minutes: past the deadline the caller gets a
    // retryable 503; an authorization that completes later has no settlement and is released by
    // the worker's orphan sweep (or found again by the retry, under the same idempotency key).
    return withDeadline(authorize(request), chargeDeadlineMs, "charge");
  }

  /**
   * The card to charge: the one this request's user read carried (no second read on the priced
   * path), else the store's. Only a carried card is trusted; a carried "none" is read again, so a
   * refusal for want of a card is always the store's answer.
   */
  async function savedCard(user: UserRecord): Promise<BillingCustomer> {
    if (user.stripeCustomerId && user.defaultPaymentMethodId) {
      return { stripeCustomerId: user.stripeCustomerId, defaultPaymentMethodId: user.defaultPaymentMethodId };
    }
    return store.getCustomer(user.id);
  }

  async function authorize({ executionId, user, spell, price }: ChargeRequest): Promise<Charge> {
    // A spell published before the minimum check existed would otherwise be an opaque Stripe 400.
    assertChargeable(price);
    const { stripeCustomerId, defaultPaymentMethodId } = await savedCard(user);
    if (!stripeCustomerId || !defaultPaymentMethodId) {
      throw new AppError("PAYMENT_METHOD_REQUIRED", "Save a payment method before running a priced spell", {
        hint: PAYMENT_METHOD_HINT,
      });
    }
    const owner = { userId: user.id, spellId: spell.id, executionId };
    let intent: Stripe.Response<Stripe.PaymentIntent>;
    try {
      intent = await stripe.paymentIntents.create(
        {
          amount: price.amount,
          currency: price.currency,
          customer: stripeCustomerId,
          payment_method: defaultPaymentMethodId,
          off_session: true,
          confirm: true,
          // Authorize now, capture after a successful run, cancel after a failed one: releasing
          // an uncaptured authorization costs nothing, a refund may cost a fee.
          capture_method: "manual",
          description: `Spell ${spell.slug}`,
          metadata: { user_id: user.id, spell_id: spell.id, execution_id: executionId },
        },
        { idempotencyKey: `pi-create:${executionId}` },
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeCardError) {
        if (error.code === "authentication_required" && error.payment_intent) {
          throw requiresAction(error.payment_intent, await recordIntent(error.payment_intent, owner));
        }
        const declineCode = error.decline_code ?? error.code ?? null;
        const record = error.payment_intent ? await recordIntent(error.payment_intent, owner) : null;
        throw new AppError("BILLING_FAILED", "The payment was declined", {
          declineCode,
          billingRecordId: record?.id ?? null,
        });
      }
      throw toAppError(error);
    }

    if (intent.lastResponse?.headers?.["idempotent-replayed"] === "true") {
      // A retry of this execution's charge (a takeover): Stripe replays the first answer, which may
      // say "authorized" of an intent released since (see below, or the orphan sweep). Only the
      // intent's state now may let a run go ahead.
      intent = await callStripe(() => stripe.paymentIntents.retrieve(intent.id));
    }
    let record: BillingRecord;
    try {
      record = await recordIntent(intent, owner);
    } catch (error) {
      // Authorized in Stripe, yet no record: nothing would ever capture or release it and the
      // customer's funds would stay held until the authorization lapses (~7 days).
      await releaseUnrecorded(intent);
      throw error;
    }
    if (intent.status === "processing") {
      // Not reached with cards; nothing runs until the payment settles.
      throw new AppError("SERVICE_UNAVAILABLE", "The payment is still processing", {
        paymentIntentId: intent.id,
        status: intent.status,
      });
    }
    switch (statusOfIntent(intent).status) {
      case "pending":
      case "succeeded":
        return chargeOf(record);
      case "requires_action":
        throw requiresAction(intent, record);
      case "canceled":
        // Only a retry meets this: the first attempt's authorization was released.
        throw new AppError(
          "BILLING_FAILED",
          "The payment authorization was released; retry with a new idempotency key",
          {
            declineCode: record.failureCode,
            billingRecordId: record.id,
          },
        );
      default:
        throw new AppError("BILLING_FAILED", "The payment was declined", {
          declineCode: record.failureCode,
          billingRecordId: record.id,
        });
    }
  }

  /**
   * Best effort, with the SDK's retries: an intent nobody can find again is cancelled at once. A
   * retry of the same execution then finds it released (`idempotent-replayed`, read again) and
   * answers BILLING_FAILED rather than running on a replayed "authorized".
   */
  async function releaseUnrecorded(intent: Stripe.PaymentIntent): Promise<void> {
    if (intent.status === "succeeded" || intent.status === "canceled") return;
    await stripe.paymentIntents.cancel(intent.id, {}, { idempotencyKey: `pi-cancel:${intent.id}` }).then(
      () => {},
      (error: unknown) => reportBackground(error, { step: "release-unrecorded", paymentIntentId: intent.id }),
    );
  }

  // Settlement: the engine has stored the outcome with its pending capture/cancel before this runs.
  // `settle` is the fast path (no read first, the caller usually learns `charged` synchronously);
  // `runSettlement` is the worker's: it reads the PaymentIntent's real state first, so an answer
  // Stripe gave and the network lost is recorded as what Stripe holds, never redone blindly.
  const settleDeadlineMs = options.settleDeadlineMs ?? 15_000;
  const captureWindowMs = options.captureWindowMs ?? 24 * 60 * 60_000;
  let settlementQueue: SettlementQueue | null = null;

  async function capture(id: string): Promise<BillingRecordStatus> {
    try {
      const intent = await stripe.paymentIntents.capture(id, {}, { idempotencyKey: `pi-capture:${id}` });
      return statusOfIntent(intent).status;
    } catch (error) {
      if (!isUnexpectedState(error)) throw error;
      // Already captured (or released): read what Stripe holds rather than fail.
      return statusOfIntent(await stripe.paymentIntents.retrieve(id)).status;
    }
  }

  async function release(id: string): Promise<BillingRecordStatus> {
    try {
      const intent = await stripe.paymentIntents.cancel(id, {}, { idempotencyKey: `pi-cancel:${id}` });
      return statusOfIntent(intent).status;
    } catch (error) {
      if (!isUnexpectedState(error)) throw error;
      const current = await stripe.paymentIntents.retrieve(id);
      if (current.status !== "succeeded") return statusOfIntent(current).status;
      return refund(id);
    }
  }

  async function refund(id: string): Promise<BillingRecordStatus> {
    // Captured after all: the only way back is a refund.
    await stripe.refunds.create({ payment_intent: id }, { idempotencyKey: `refund:${id}` });
    return "refunded";
  }

  function recordSettled(id: string, status: BillingRecordStatus): Promise<void> {
    return store.completeSettlement(id, {
      status,
      failureCode: null,
      from: RECORD_TRANSITIONS[status],
      charge: status === "succeeded" ? "charged" : "not_charged",
      refunded: status === "canceled" || status === "refunded",
    });
  }

  function resultOf(status: BillingRecordStatus): SettleResult {
    if (status === "succeeded") return { status: "charged", refunded: false };
    if (status === "pending" || status === "requires_action") return { status: "pending", refunded: false };
    return { status: "not_charged", refunded: status === "canceled" || status === "refunded" };
  }

  async function settle(done: Charge, outcome: "succeeded" | "failed"): Promise<SettleResult> {
    const id = done.paymentIntentId;
    let status: BillingRecordStatus;
    try {
      status = await withDeadline(
        outcome === "succeeded" ? capture(id) : release(id),
        settleDeadlineMs,
        "settle",
      );
    } catch (error) {
      // Stripe did not confirm: the stored order stays pending and the worker carries it out.
      await store.noteSettlementAttempt(id, describe(error), RETRY_FIRST_MS).catch(() => {});
      await settlementQueue?.enqueue(id).catch(() => {});
      return { status: "pending", refunded: false };
    }
    // Stripe confirmed: the caller hears it now, and the `done` write follows off the answer's path
    // (one durable write fewer per priced execute). Lost (a crash, an outage), the order stays
    // pending and the worker re-reads Stripe and records the same state; nothing is redone.
    inBackground(id, "record-settlement", recordSettled(id, status));
    return resultOf(status);
  }

  async function runSettlement(paymentIntentId: string): Promise<void> {
    const settlement = await store.getSettlement(paymentIntentId);
    if (settlement?.status !== "pending") return;
    try {
      const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
      let status: BillingRecordStatus;
      if (intent.status === "requires_capture") {
        // The capture window policy: an authorization not captured within `captureWindowMs` of
        // its stored answer is released (card authorizations lapse after about 7 days anyway).
        const inWindow = Date.now() - settlement.createdAt.getTime() < captureWindowMs;
        status =
          settlement.action === "capture" && inWindow
            ? await capture(paymentIntentId)
            : await release(paymentIntentId);
      } else if (intent.status === "succeeded") {
        status = settlement.action === "capture" ? "succeeded" : await refund(paymentIntentId);
      } else {
        status = statusOfIntent(intent).status;
      }
      await recordSettled(paymentIntentId, status);
    } catch (error) {
      const attempt = settlement.attempts + 1;
      await store
        .noteSettlementAttempt(
          paymentIntentId,
          describe(error),
          Math.min(RETRY_FIRST_MS * 2 ** attempt, RETRY_MAX_MS),
        )
        .catch(() => {});
      throw error;
    }
  }

  async function updateFromIntent(intent: Stripe.PaymentIntent): Promise<void> {
    const record = await store.findRecordByPaymentIntent(intent.id);
    if (!record) return;
    const { status, failureCode } = statusOfIntent(intent);
    await applyRecordStatus(store, record, status, failureCode);
  }

  async function resumePayment(user: UserRecord, paymentIntentId: string) {
    let intent: Stripe.PaymentIntent;
    try {
      intent = await stripe.paymentIntents.retrieve(paymentIntentId);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) {
        throw new AppError("NOT_FOUND", "No such payment intent", { paymentIntentId });
      }
      throw toAppError(error);
    }
    const executionId = intent.metadata.execution_id;
    if (!executionId) throw new AppError("NOT_FOUND", "No such payment intent", { paymentIntentId });
    const { stripeCustomerId } = await store.getCustomer(user.id);
    const intentCustomer =
      typeof intent.customer === "string" ? intent.customer : (intent.customer?.id ?? null);
    if (
      intent.metadata.user_id !== user.id ||
      intentCustomer === null ||
      intentCustomer !== stripeCustomerId
    ) {
      throw new AppError("FORBIDDEN", "This payment belongs to another user", { paymentIntentId });
    }
    const record = await recordIntent(intent, {
      userId: user.id,
      spellId: intent.metadata.spell_id ?? "",
      executionId,
    });
    if (intent.status === "requires_capture" || intent.status === "succeeded") {
      return { executionId, status: "succeeded" as const, charge: chargeOf(record) };
    }
    const { status } = statusOfIntent(intent);
    if (status === "failed" || status === "canceled") {
      return { executionId, status: "failed" as const, charge: null };
    }
    return { executionId, status: "requires_action" as const, charge: null };
  }

  async function createCheckoutUrl(user: UserRecord, urls: { successUrl: string; cancelUrl: string }) {
    const successUrl = checkReturnUrl("successUrl", urls.successUrl);
    const cancelUrl = checkReturnUrl("cancelUrl", urls.cancelUrl);
    const customer = await ensureCustomer(user.id);
    const session = await callStripe(() =>
      stripe.checkout.sessions.create({
        mode: "setup",
        currency: checkoutCurrency,
        customer,
        success_url: successUrl,
        cancel_url: cancelUrl,
        metadata: { user_id: user.id },
      }),
    );
    if (!session.url) throw new AppError("INTERNAL_ERROR", "Internal error", {});
    return session.url;
  }

  async function createPortalUrl(user: UserRecord, urls: { returnUrl: string }) {
    const returnUrl = checkReturnUrl("returnUrl", urls.returnUrl);
    const customer = await ensureCustomer(user.id);
    const session = await callStripe(() =>
      stripe.billingPortal.sessions.create({ customer, return_url: returnUrl }),
    );
    return session.url;
  }

  async function handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<WebhookResult> {
    if (!signature) {
      throw new AppError("VALIDATION_ERROR", "Missing Stripe-Signature header", { reason: "unsigned" });
    }
    let event: Stripe.Event;
    try {
      event = stripe.webhooks.constructEvent(
        rawBody,
        signature,
        options.webhookSecret,
        options.webhookToleranceSeconds ?? 300,
      );
    } catch (error) {
      throw new AppError("VALIDATION_ERROR", "Invalid webhook signature", {
        reason: error instanceof Error ? error.message : "invalid",
      });
    }
    if (!(await store.recordEvent(event.id, event.type))) return { received: true, duplicate: true };
    try {
      await handleStripeEvent(event, { stripe, store, recordIntent, updateFromIntent });
    } catch (error) {
      await store.forgetEvent(event.id);
      throw toAppError(error);
    }
    return { received: true, duplicate: false };
  }

  return {
    quote: (spell) => ({ ...spell.price }),
    hasPaymentMethod: (user) => user.hasPaymentMethod,
    charge,
    settle,
    runSettlement,
    attachSettlementQueue(queue) {
      settlementQueue = queue;
    },
    idle,
    createCheckoutUrl,
    createPortalUrl,
    resumePayment,
    assertChargeable,
    handleWebhook,
  };
}

/** Stripe refuses idempotency keys over 255 characters; a user id may be up to 255 on its own. */
export function idempotencyKey(prefix: string, id: string): string {
  const key = `${prefix}:${id}`;
  return key.length <= 255 ? key : `${prefix}:sha256:${createHash("sha256").update(id).digest("hex")}`;
}

function requiresActionError(
  intent: Stripe.PaymentIntent,
  record: BillingRecord,
  hint: string | undefined,
): AppError {
  return new AppError("PAYMENT_REQUIRES_ACTION", "The payment needs the customer to authenticate", {
    paymentIntentId: intent.id,
    clientSecret: intent.client_secret,
    billingRecordId: record.id,
    ...(hint !== undefined ? { hint } : {}),
  });
}

function isUnexpectedState(error: unknown): boolean {
  return (
    error instanceof Stripe.errors.StripeInvalidRequestError &&
    error.code === "payment_intent_unexpected_state"
  );
}

/**
 * Settles `work` or rejects with SERVICE_UNAVAILABLE after `ms`: one bound on a Stripe step,
 * whatever the SDK's per-request timeout and retries add up to. The call itself is not aborted;
 * every Stripe call is idempotent, so a late success is found again by the next attempt.
 */
function withDeadline<T>(work: Promise<T>, ms: number, step: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new AppError("SERVICE_UNAVAILABLE", "The payment provider did not answer in time", {
            provider: "stripe",
            step,
            timeoutMs: ms,
          }),
        ),
      ms,
    );
  });
  work.catch(() => {});
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs a Stripe call, turning its failures into AppErrors. */
async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toAppError(error);
  }
}

/**
 * Stripe being unreachable or failing (after the SDK's retries) is a 503: nothing was charged
 * that a retry with the same idempotency key would not find again. Anything else from Stripe is
 * our own misconfiguration, so it stays an internal error with nothing leaked.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeRateLimitError ||
    (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500)
  ) {
    return new AppError(
      "SERVICE_UNAVAILABLE",
      "The payment provider is unavailable",
      { provider: "stripe" },
      {
        cause: error,
      },
    );
  }
  return new AppError("INTERNAL_ERROR", "Internal error", {}, { cause: error });
}
