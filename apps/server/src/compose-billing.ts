import {
  type BillingStore,
  createLocalTestBilling,
  createNoBilling,
  createStripeBilling,
  LOCAL_TEST_PAYMENT_METHODS,
  type StripeBilling,
} from "@spell/billing";
import { AppError, type PublishInput } from "@spell/contracts";
import type { Billing } from "@spell/engine";
import type { Express } from "express";
import type { BillingMode, Env } from "./env.ts";
import {
  type BillingRouteContext,
  LOCAL_ATTACH_PATH,
  LOCAL_AUTHENTICATE_PATH,
  mountLocalTestRoutes,
  mountReturnPage,
  mountWebhook,
  WEBHOOK_PATH,
} from "./http/billing.ts";

export interface BillingComposition {
  mode: BillingMode;
  billing: Billing;
  /** Routes the billing adapter needs (webhook with a raw body, local test-provider pages). */
  extraRoutes?: (app: Express, context: BillingRouteContext) => void;
  /** OpenAPI path items (relative to `/api`) for those routes: they are not tRPC procedures. */
  openApiPaths?: Record<string, unknown>;
  /** Demo spells that only make sense with this billing (a priced one with the local test provider). */
  demoSpells?: PublishInput[];
  close?: () => Promise<void>;
}

export interface BillingDeps {
  /** `database.billing`: customers, billing records and webhook events in Postgres. */
  store: BillingStore;
  /** Where this server is reached (`http://127.0.0.1:8787`): the local checkout page lives under it. */
  publicBaseUrl: string;
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
 * it needs. The webhook route is mounted in every mode so a misdirected Stripe delivery gets a
 * clear error rather than a 404.
 */
export function composeBilling(env: Env, deps: BillingDeps): BillingComposition {
  const allowedReturnOrigins =
    env.billingReturnOrigins.length > 0 || env.production
      ? env.billingReturnOrigins
      : [new URL(deps.publicBaseUrl).origin];
  const webhookDoc = { [WEBHOOK_PATH.slice("/api".length)]: WEBHOOK_OPERATION };

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
    return {
      mode: "stripe",
      billing,
      openApiPaths: webhookDoc,
      extraRoutes: (app, context) => {
        mountWebhook(app, billing.handleWebhook, context);
        mountReturnPage(app);
      },
    };
  }

  if (env.billingMode === "local") {
    const billing = createLocalTestBilling({
      store: deps.store,
      allowedReturnOrigins,
      publicBaseUrl: deps.publicBaseUrl,
      production: env.production,
    });
    return {
      mode: "local",
      billing,
      demoSpells: [PRICED_DEMO],
      openApiPaths: { ...webhookDoc, ...LOCAL_OPERATIONS },
      extraRoutes: (app, context) => {
        mountWebhook(app, billing.handleWebhook, context);
        mountLocalTestRoutes(app, billing.routes, context);
        mountReturnPage(app);
      },
    };
  }

  const billing = createNoBilling();
  const refuseWebhook: StripeBilling["handleWebhook"] = async () => {
    throw new AppError("BILLING_NOT_CONFIGURED", "Billing is not configured on this server", {});
  };
  return {
    mode: "none",
    billing,
    openApiPaths: webhookDoc,
    extraRoutes: (app, context) => mountWebhook(app, refuseWebhook, context),
  };
}

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
});

/** Hand-written: the webhook takes Stripe's raw signed bytes, which no tRPC procedure can. */
const WEBHOOK_OPERATION = {
  post: {
    operationId: "billing-webhook",
    summary: "Stripe webhook (raw body, verified with STRIPE_WEBHOOK_SECRET; idempotent by event id)",
    tags: ["billing"],
    parameters: [
      {
        name: "Stripe-Signature",
        in: "header",
        required: true,
        schema: { type: "string" },
        description: "Stripe's `t=…,v1=…` signature of the exact body",
      },
    ],
    requestBody: {
      required: true,
      content: { "application/json": { schema: { type: "object", description: "A Stripe Event" } } },
    },
    responses: {
      "200": {
        description: "Received; `duplicate` is true for an event id seen before (nothing changed)",
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["ok", "received", "duplicate"],
              properties: {
                ok: { type: "boolean", const: true },
                received: { type: "boolean", const: true },
                duplicate: { type: "boolean" },
              },
            },
          },
        },
      },
      "400": errorResponse("VALIDATION_ERROR: missing, invalid or stale signature; nothing changed"),
      "413": errorResponse("PAYLOAD_TOO_LARGE"),
      "501": errorResponse("BILLING_NOT_CONFIGURED"),
      "503": errorResponse("SERVICE_UNAVAILABLE: handling failed; Stripe redelivers"),
    },
  },
};

const localOperation = (
  id: string,
  summary: string,
  field: string,
  fieldSchema: Record<string, unknown>,
) => ({
  post: {
    operationId: id,
    summary,
    tags: ["billing (local test provider)"],
    security: [{ bearerAuth: [] }],
    requestBody: {
      required: true,
      content: {
        "application/json": {
          schema: { type: "object", required: [field], properties: { [field]: fieldSchema } },
        },
      },
    },
    responses: {
      "200": {
        description: "Done",
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["ok", field],
              properties: { ok: { type: "boolean", const: true }, [field]: { type: "string" } },
            },
          },
        },
      },
      "400": errorResponse("VALIDATION_ERROR"),
      "401": errorResponse("UNAUTHORIZED"),
      "403": errorResponse("USER_BANNED, FORBIDDEN"),
      "404": errorResponse("NOT_FOUND"),
    },
  },
});

const LOCAL_OPERATIONS = {
  [LOCAL_ATTACH_PATH.slice("/api".length)]: localOperation(
    "billing-local-attach",
    "LOCAL TEST provider only: save one of Stripe's test payment methods as the caller's card",
    "paymentMethod",
    { type: "string", enum: Object.keys(LOCAL_TEST_PAYMENT_METHODS) },
  ),
  [LOCAL_AUTHENTICATE_PATH.slice("/api".length)]: localOperation(
    "billing-local-authenticate",
    "LOCAL TEST provider only: complete the 3-D Secure step of a payment, then call confirm-intent",
    "paymentIntentId",
    { type: "string" },
  ),
};
