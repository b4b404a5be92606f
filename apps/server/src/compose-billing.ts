import {
  type BillingStore,
  createNoBilling,
  createPrepaidBilling,
  createStripeBilling,
  createStripeTopUps,
  type LocalStripeBilling,
  parseStripeApiBase,
  type SettlementWorker,
  type StripeBilling,
  startLocalStripeBilling,
  startSettlementWorker,
  type TopUpProvider,
} from "@spell/billing";
import { AppError, type PublishInput } from "@spell/contracts";
import { openLedgerDatabase } from "@spell/db";
import type { Billing } from "@spell/engine";
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
  const cards = await composeCardBilling(env, { ...deps, prepaid });
  const composed = prepaid ? await withPrepaid(env, deps, cards) : cards;
  return withRateLimits(env, deps, composed);
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
): Promise<BillingComposition> {
  if (!deps.settlementDatabaseUrl) {
    throw new Error(
      "SPELL_BILLING_MODE=prepaid needs DATABASE_URL (a PostgreSQL server), not the embedded database",
    );
  }
  const ledgerDb = openLedgerDatabase({ url: deps.settlementDatabaseUrl });
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
      await ledgerDb.close();
    },
  };
}

/** Execute rate limits, when configured: on Postgres across processes, in memory on the embedded database. */
async function withRateLimits(
  env: Env,
  deps: BillingDeps,
  composed: BillingComposition,
): Promise<BillingComposition> {
  if (!env.rateLimit.perUser && !env.rateLimit.perSpell) return composed;
  const pool = deps.settlementDatabaseUrl
    ? openLedgerDatabase({ url: deps.settlementDatabaseUrl, poolSize: 4 })
    : undefined;
  const limits = await createRateLimits(env.rateLimit, pool?.pool);
  return {
    ...composed,
    extraRoutes: (app, context) => {
      mountRateLimits(app, limits, context);
      composed.extraRoutes?.(app, context);
    },
    close: async () => {
      await composed.close?.();
      await limits.close();
      await pool?.close();
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
