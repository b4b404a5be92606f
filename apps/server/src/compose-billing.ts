import {
  type BillingStore,
  createNoBilling,
  createPrepaidBilling,
  createStripeBilling,
  createStripeTopUps,
  type LocalStripeBilling,
  MICROS_PER_MINOR_UNIT,
  parseStripeApiBase,
  priceMicros,
  type SettlementWorker,
  type StripeBilling,
  startLocalStripeBilling,
  startSettlementWorker,
  type TopUpProvider,
} from "@spell/billing";
import { AppError, type PublishInput, type TokenSpendCap, toAppError } from "@spell/contracts";
import { type LedgerDatabase, openLedgerDatabase } from "@spell/db";
import type { Billing, Charge, ChargeRequest } from "@spell/engine";
import type { Express } from "express";
import type { BillingMode, Env } from "./env.ts";
import {
  type BillingRouteContext,
  billingOpenApiPaths,
  mountLocalTestRoutes,
  mountReturnPage,
  mountWebhook,
} from "./http/billing.ts";
import { createRateLimits, mountRateLimits } from "./http/rate-limit.ts";

export interface BillingComposition {
  mode: BillingMode;
  billing: Billing;
  /** Routes the billing adapter needs (webhook with a raw body, local test-provider pages). */
  extraRoutes?: (app: Express, context: BillingRouteContext) => void;
  /** OpenAPI path items (relative to `/api`) for those routes: they are not tRPC procedures. */
  openApiPaths?: Record<string, unknown>;
  /** Demo spells that only make sense with this billing (a priced one with the local test provider). */
  demoSpells?: PublishInput[];
  /** Carries out settlements Stripe did not confirm synchronously (Stripe and local modes). */
  settlementWorker?: SettlementWorker;
  close?: () => Promise<void>;
}

export interface BillingDeps {
  /** `database.billing`: customers, billing records and webhook events in Postgres. */
  store: BillingStore;
  /** Where this server is reached (`http://127.0.0.1:8787`): the local checkout pages live under it. */
  publicBaseUrl: string;
  /**
   * The Postgres the settlement worker's pg-boss runs on; unset for the embedded PGlite, where the
   * same `settlements` rows are carried out in process instead.
   */
  settlementDatabaseUrl?: string | undefined;
  /** Settlement worker errors (Stripe or the database unreachable while retrying). */
  onSettlementError?: (error: unknown) => void;
  /** Set by `composeBilling` in prepaid mode (see below); callers leave it out. */
  prepaid?: boolean;
}

/** Starts the settlement worker for a Stripe adapter; its stop goes first in `close`. */
async function withSettlementWorker(billing: StripeBilling, deps: BillingDeps, close?: () => Promise<void>) {
  // Prepaid mode settles in its own ledger; no per-use PaymentIntent is ever created to settle.
  if (deps.prepaid) return { worker: undefined, close: async () => await close?.() };
  const worker = await startSettlementWorker({
    billing,
    store: deps.store,
    ...(deps.settlementDatabaseUrl ? { connectionString: deps.settlementDatabaseUrl } : {}),
    ...(deps.onSettlementError ? { onError: deps.onSettlementError } : {}),
  });
  return {
    worker,
    close: async () => {
      await worker.stop();
      // The settlement "done" marks `settle` left running after answers, before the pool closes.
      await billing.idle();
      await close?.();
    },
  };
}

/** The priced demo of the quick start: the builtin echo, charged through the LOCAL TEST provider. */
export const PRICED_DEMO: PublishInput = {
  slug: "echo-paid@v1",
  runtime: "builtin",
  artifact: { builtin: "echo" },
  visibility: "public",
  priceAmount: 50,
  currency: "usd",
  metadata: {
    description:
      "Priced demo (USD 0.50): returns its input, charged through the LOCAL TEST payment provider (no real money)",
  },
};

/**
 * Picks the billing adapter from the configuration (`env.billingMode`, see env.ts) and the routes
 * it needs; in `local` mode that starts the simulated Stripe on loopback (stopped by `close`). The
 * webhook route is mounted in every mode so a misdirected Stripe delivery gets a clear error
 * rather than a 404.
 */
export async function composeBilling(env: Env, deps: BillingDeps): Promise<BillingComposition> {
  const prepaid = env.billingPlan === "prepaid";
  // One pool for the ledger and token spend (real Postgres only); the rate limiter opens its own.
  const ledgerDb = deps.settlementDatabaseUrl
    ? openLedgerDatabase({ url: deps.settlementDatabaseUrl })
    : undefined;
  try {
    const cards = await composeCardBilling(env, { ...deps, prepaid });
    const composed = prepaid ? await withPrepaid(env, deps, cards, ledgerDb) : cards;
    const capped = withTokenCaps(composed, ledgerDb, prepaid, deps.onSettlementError);
    const limited = await withRateLimits(env, capped, deps.settlementDatabaseUrl);
    return {
      ...limited,
      close: async () => {
        await limited.close?.();
        await ledgerDb?.close();
      },
    };
  } catch (error) {
    await ledgerDb?.close();
    throw error;
  }
}

/** `ChargeRequest.maxSpend` (ports.ts): the verified `spell:max_spend` claim of the caller's token. */
type CappedChargeRequest = ChargeRequest & { maxSpend?: TokenSpendCap | undefined };

/**
 * Per-token spend caps (`spell:max_spend`) in front of any billing adapter: before the adapter is
 * asked for money, the price is added to the token's spend in one conditional upsert (the cap is
 * never passed, in any process); a charge refused or a run that failed gives it back. In prepaid
 * mode the price is what the ledger takes (micros, sub-cent prices count), per use the card charge.
 * Without Postgres (the embedded database) a capped token cannot pay for anything: refused, never
 * run uncapped.
 */
export function withTokenSpendCaps(
  billing: Billing,
  store: LedgerDatabase["tokenSpend"] | null,
  options: { prepaid: boolean; onError?: ((error: unknown) => void) | undefined },
): Billing {
  const onError = options.onError ?? (() => {});
  const costMicros = (request: ChargeRequest) =>
    options.prepaid
      ? priceMicros(request.spell, request.price)
      : request.price.amount * MICROS_PER_MINOR_UNIT;
  const release = (by: { executionId: string } | { chargeId: string }) =>
    store?.release(by).then(
      () => {},
      (error: unknown) => onError(error),
    );

  function refusal(cap: TokenSpendCap, request: ChargeRequest, micros: number, spent: number): AppError {
    const currencyMismatch = request.price.currency !== cap.currency;
    return new AppError(
      "SPEND_LIMIT_REACHED",
      currencyMismatch
        ? `This token may only spend ${cap.currency}; the spell costs ${request.price.currency}`
        : "This token's spend cap (spell:max_spend) is reached",
      {
        limit: "token",
        scope: "token",
        max: cap.amount,
        spent: spent / MICROS_PER_MINOR_UNIT,
        price: micros / MICROS_PER_MINOR_UNIT,
        currency: cap.currency,
        unit: "minor",
        // A token's cap never resets: it ends with the token (a new token has its own allowance).
        resetsAt: null,
        expiresAt: cap.expiresAt,
        ...(currencyMismatch ? { reason: "currency", priceCurrency: request.price.currency } : {}),
      },
    );
  }

  async function charge(request: CappedChargeRequest): Promise<Charge> {
    const cap = request.maxSpend;
    if (!cap) return billing.charge(request);
    if (!store) {
      throw new AppError(
        "BILLING_NOT_CONFIGURED",
        "Tokens with a spend cap (spell:max_spend) need a server on PostgreSQL",
        { reason: "token_spend_needs_postgres" },
      );
    }
    const micros = costMicros(request);
    const tokenKey = `${cap.key}:${cap.currency}`;
    if (request.price.currency !== cap.currency) {
      throw refusal(cap, request, micros, await store.spent(tokenKey));
    }
    const reserved = await store.reserve({
      tokenKey,
      userId: request.user.id,
      currency: cap.currency,
      cap: Math.floor(cap.amount * MICROS_PER_MINOR_UNIT),
      amount: micros,
      executionId: request.executionId,
      expiresAt: cap.expiresAt,
    });
    if (reserved.kind === "limit") throw refusal(cap, request, micros, reserved.spent);
    let charged: Charge;
    try {
      charged = await billing.charge(request);
    } catch (thrown) {
      // A payment waiting for the customer keeps its share: it is charged once they confirm.
      if (toAppError(thrown).code !== "PAYMENT_REQUIRES_ACTION") {
        await release({ executionId: request.executionId });
      }
      throw thrown;
    }
    await store.attach(request.executionId, charged.paymentIntentId).catch(onError);
    return charged;
  }

  const foldBegin = billing.chargeAtBegin;
  return {
    ...billing,
    charge,
    // A capped token's spend is reserved between the begin and the charge (the path above); only
    // uncapped calls may have the adapter write the begin with the charge.
    ...(foldBegin
      ? {
          chargeAtBegin: (request: CappedChargeRequest, execution) =>
            request.maxSpend ? Promise.resolve(null) : foldBegin(request, execution),
        }
      : {}),
    async settle(done, outcome) {
      const result = await billing.settle(done, outcome);
      // The settlement order is stored before settle is called: a failed run's money goes back
      // (now or by the worker), so its share of the token's cap goes back now.
      if (outcome === "failed") await release({ chargeId: done.paymentIntentId });
      return result;
    },
    async resumePayment(user, paymentIntentId) {
      const resumed = await billing.resumePayment(user, paymentIntentId);
      if (store && resumed.charge) {
        await store.attach(resumed.executionId, resumed.charge.paymentIntentId).catch(onError);
      } else if (resumed.status === "failed") {
        await release({ executionId: resumed.executionId });
      }
      return resumed;
    },
  };
}

function withTokenCaps(
  composed: BillingComposition,
  ledgerDb: LedgerDatabase | undefined,
  prepaid: boolean,
  onError: ((error: unknown) => void) | undefined,
): BillingComposition {
  return {
    ...composed,
    billing: withTokenSpendCaps(composed.billing, ledgerDb?.tokenSpend ?? null, { prepaid, onError }),
  };
}

/** A sub-cent priced demo for prepaid mode: 0.05¢ (500 micros) a call from the balance. */
export const PREPAID_DEMO: PublishInput = {
  slug: "echo-prepaid@v1",
  runtime: "builtin",
  artifact: { builtin: "echo" },
  visibility: "public",
  priceAmount: 1,
  currency: "usd",
  metadata: {
    priceMicros: 500,
    description: "Prepaid demo (USD 0.0005 from the prepaid balance): returns its input",
  },
};

/**
 * Prepaid mode (`SPELL_BILLING_MODE=prepaid`): the prepaid adapter in front of the card adapter,
 * on a ledger pool of its own; top-ups go to the card adapter's Stripe (or the local simulation).
 */
async function withPrepaid(
  env: Env,
  deps: BillingDeps,
  cards: BillingComposition,
  ledgerDb: LedgerDatabase | undefined,
): Promise<BillingComposition> {
  if (!ledgerDb) {
    throw new Error(
      "SPELL_BILLING_MODE=prepaid needs DATABASE_URL (a PostgreSQL server), not the embedded database",
    );
  }
  let topUps: TopUpProvider | null = null;
  if (cards.mode === "stripe" && env.stripe.secretKey) {
    topUps = createStripeTopUps({
      secretKey: env.stripe.secretKey,
      webhookSecret: env.stripe.webhookSecret,
      apiBase: env.stripe.apiBase,
    });
  } else if (cards.mode === "local") {
    topUps = createStripeTopUps({
      secretKey: "sk_test_local_simulation",
      apiBase: parseStripeApiBase((cards.billing as LocalStripeBilling).stripeApiUrl),
    });
  }
  const billing = createPrepaidBilling({
    ledger: ledgerDb.ledger,
    customers: deps.store,
    cards: cards.billing,
    topUps,
    currency: env.prepaidCurrency,
    ...(deps.onSettlementError ? { onError: deps.onSettlementError } : {}),
  });
  return {
    ...cards,
    billing,
    demoSpells: [...(cards.demoSpells ?? []).filter((spell) => spell !== PRICED_DEMO), PREPAID_DEMO],
    extraRoutes: (app, context) => {
      // Ahead of the card adapter's own webhook route: top-ups are credited here first.
      if (cards.mode === "stripe") mountWebhook(app, billing.handleWebhook, context);
      cards.extraRoutes?.(app, context);
    },
    close: async () => {
      await billing.close();
      await cards.close?.();
    },
  };
}

/**
 * Execute rate limits, when configured: on Postgres across processes (a pool of their own,
 * asynchronous commits: counters, not money), in memory on the embedded database.
 */
async function withRateLimits(
  env: Env,
  composed: BillingComposition,
  databaseUrl: string | undefined,
): Promise<BillingComposition> {
  if (!env.rateLimit.perUser && !env.rateLimit.perSpell) return composed;
  const limits = await createRateLimits(env.rateLimit, databaseUrl ? { url: databaseUrl } : undefined);
  // `Billing.rateLimits` (ports.ts): the pipeline counts each execute once its spell is known.
  const billing: Billing & { rateLimits: Pick<typeof limits, "consume"> } = {
    ...composed.billing,
    rateLimits: { consume: limits.consume },
  };
  return {
    ...composed,
    billing,
    extraRoutes: (app, context) => {
      mountRateLimits(app, limits);
      composed.extraRoutes?.(app, context);
    },
    close: async () => {
      await composed.close?.();
      await limits.close();
    },
  };
}

async function composeCardBilling(env: Env, deps: BillingDeps): Promise<BillingComposition> {
  const allowedReturnOrigins =
    env.billingReturnOrigins.length > 0 || env.production
      ? env.billingReturnOrigins
      : [new URL(deps.publicBaseUrl).origin];

  if (env.billingMode === "stripe") {
    const { secretKey, webhookSecret, apiBase } = env.stripe;
    if (secretKey === undefined || webhookSecret === undefined) {
      throw new Error("composeBilling: stripe mode without STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET");
    }
    const billing = createStripeBilling({
      secretKey,
      webhookSecret,
      store: deps.store,
      allowedReturnOrigins,
      ...(apiBase ? { apiBase } : {}),
      ...(deps.onSettlementError
        ? { onBackgroundError: (error: unknown) => deps.onSettlementError?.(error) }
        : {}),
    });
    const settlement = await withSettlementWorker(billing, deps);
    return {
      mode: "stripe",
      billing,
      settlementWorker: settlement.worker,
      close: settlement.close,
      openApiPaths: billingOpenApiPaths({ local: false }),
      extraRoutes: (app, context) => {
        mountWebhook(app, billing.handleWebhook, context);
        mountReturnPage(app);
      },
    };
  }

  if (env.billingMode === "local") {
    const billing = await startLocalStripeBilling({
      store: deps.store,
      allowedReturnOrigins,
      publicBaseUrl: deps.publicBaseUrl,
      production: env.production,
    });
    const settlement = await withSettlementWorker(billing, deps, billing.close);
    return {
      mode: "local",
      billing,
      settlementWorker: settlement.worker,
      demoSpells: [PRICED_DEMO],
      openApiPaths: billingOpenApiPaths({ local: true }),
      extraRoutes: (app, context) => {
        mountWebhook(app, billing.handleWebhook, context);
        mountLocalTestRoutes(app, billing.routes, context);
        mountReturnPage(app);
      },
      close: settlement.close,
    };
  }

  const billing = createNoBilling();
  const refuseWebhook: StripeBilling["handleWebhook"] = async () => {
    throw new AppError("BILLING_NOT_CONFIGURED", "Billing is not configured on this server", {});
  };
  return {
    mode: "none",
    billing,
    openApiPaths: billingOpenApiPaths({ local: false }),
    extraRoutes: (app, context) => mountWebhook(app, refuseWebhook, context),
  };
}
