import {
  type HostedPageForm,
  type HostedPageResponse,
  LOCAL_PAGES_PATH,
  LOCAL_TEST_PAYMENT_METHODS,
  type LocalTestPaymentMethod,
  type LocalTestRoutes,
  type StripeBilling,
} from "@spell/billing";
import { AppError } from "@spell/contracts";
import type { Engine, Session } from "@spell/engine";
import express, { type Express, type Request, type Response } from "express";
import { z } from "zod";
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from "zod-openapi";
import { requireJsonBody } from "./guards.ts";

export const WEBHOOK_PATH = "/api/billing/webhook";
export const LOCAL_ATTACH_PATH = "/api/billing/local/attach";
export const LOCAL_AUTHENTICATE_PATH = "/api/billing/local/authenticate";
/** Where the CLI sends Checkout and the portal back to by default: a page that says "go back". */
export const BILLING_RETURN_PATH = "/billing/return";

/** What billing routes need from the app once the engine exists. */
export interface BillingRouteContext {
  engine: Engine;
  bodyLimit: number;
}

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
});

/** Only the fields Spell reads; Stripe sends many more, all accepted. */
export const ZStripeEvent = z
  .looseObject({
    id: z.string(),
    type: z.string(),
    data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
  })
  .meta({ description: "A Stripe Event, the exact bytes Stripe signed" });

export const ZWebhookOutput = z.object({
  ok: z.literal(true),
  received: z.literal(true),
  duplicate: z.boolean().meta({ description: "True for an event id seen before: nothing changed" }),
});

/** Documented from schemas: the webhook takes Stripe's raw signed bytes, which no tRPC procedure can. */
const WEBHOOK_OPERATION: ZodOpenApiOperationObject = {
  operationId: "billing-webhook",
  summary: "Stripe webhook (raw body, verified with STRIPE_WEBHOOK_SECRET; idempotent by event id)",
  tags: ["billing"],
  requestParams: {
    header: z.object({
      "Stripe-Signature": z.string().meta({ description: "Stripe's `t=…,v1=…` signature of the exact body" }),
    }),
  },
  requestBody: { required: true, content: { "application/json": { schema: ZStripeEvent } } },
  responses: {
    "200": {
      description: "Received; `duplicate` is true for an event id seen before (nothing changed)",
      content: { "application/json": { schema: ZWebhookOutput } },
    },
    "400": errorResponse("VALIDATION_ERROR: missing, invalid or stale signature; nothing changed"),
    "413": errorResponse("PAYLOAD_TOO_LARGE"),
    "501": errorResponse("BILLING_NOT_CONFIGURED"),
    "503": errorResponse("SERVICE_UNAVAILABLE: handling failed; Stripe redelivers"),
  },
};

/**
 * `POST /api/billing/webhook`: the exact bytes Stripe signed reach `handleWebhook`. It is mounted
 * before anything else parses bodies; a JSON parser first would make every signature invalid.
 * Without a verifiable signature nothing is read or changed (400 VALIDATION_ERROR).
 */
export function mountWebhook(
  app: Express,
  handleWebhook: StripeBilling["handleWebhook"],
  context: BillingRouteContext,
): void {
  app.post(WEBHOOK_PATH, express.raw({ type: "*/*", limit: context.bodyLimit }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const result = await handleWebhook(body, req.header("stripe-signature"));
    const output: z.input<typeof ZWebhookOutput> = {
      ok: true,
      received: result.received,
      duplicate: result.duplicate,
    };
    res.json(output);
  });
}

/** A non-banned caller from the bearer token, as `userProcedure` checks it on tRPC. */
/** The engine refuses a banned caller, as it does for every procedure. */
function userSession(engine: Engine, req: Request): Promise<Session> {
  return engine.authenticate(req.headers.authorization, "user");
}

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    throw new AppError("VALIDATION_ERROR", "Invalid input", {
      issues: parsed.error.issues.map(({ path, message, code }) => ({ path, message, code })),
    });
  }
  return parsed.data;
}

function send(res: Response, answer: HostedPageResponse): void {
  res.status(answer.status).set(answer.headers).send(answer.body);
}

const TEST_CARD_IDS = Object.keys(LOCAL_TEST_PAYMENT_METHODS) as [
  LocalTestPaymentMethod,
  ...LocalTestPaymentMethod[],
];

export const ZAttachInput = z.object({
  paymentMethod: z.enum(TEST_CARD_IDS).meta({ description: "One of Stripe's test payment methods" }),
});
export const ZAttachOutput = z.object({ ok: z.literal(true), paymentMethod: z.enum(TEST_CARD_IDS) });
export const ZAuthenticateInput = z.object({
  paymentIntentId: z.string().min(1).max(255).meta({ description: "From the PAYMENT_REQUIRES_ACTION error" }),
});
export const ZAuthenticateOutput = z.object({ ok: z.literal(true), paymentIntentId: z.string() });

const localOperation = (
  operationId: string,
  summary: string,
  input: z.ZodType,
  output: z.ZodType,
): ZodOpenApiOperationObject => ({
  operationId,
  summary,
  tags: ["billing (local test provider)"],
  security: [{ bearerAuth: [] }],
  requestBody: { required: true, content: { "application/json": { schema: input } } },
  responses: {
    "200": { description: "Done", content: { "application/json": { schema: output } } },
    "400": errorResponse("VALIDATION_ERROR"),
    "401": errorResponse("UNAUTHORIZED"),
    "403": errorResponse("USER_BANNED, FORBIDDEN"),
    "404": errorResponse("NOT_FOUND"),
    "415": errorResponse("UNSUPPORTED_MEDIA_TYPE"),
  },
});

const LOCAL_OPERATIONS = {
  attach: localOperation(
    "billing-local-attach",
    "LOCAL TEST provider only: save one of Stripe's test payment methods as the caller's card",
    ZAttachInput,
    ZAttachOutput,
  ),
  authenticate: localOperation(
    "billing-local-authenticate",
    "LOCAL TEST provider only: complete the 3-D Secure step of a payment, then call confirm-intent",
    ZAuthenticateInput,
    ZAuthenticateOutput,
  ),
};

/**
 * The LOCAL TEST provider's pages (the simulated Stripe Checkout and portal) and its two JSON
 * routes (quick start only): `attach` saves a test card without a browser, `authenticate` stands
 * in for 3-D Secure.
 */
export function mountLocalTestRoutes(app: Express, routes: LocalTestRoutes, context: BillingRouteContext) {
  const { engine, bodyLimit } = context;
  const form = express.urlencoded({ extended: false, limit: bodyLimit });
  const formOf = (req: Request): HostedPageForm => {
    const fields = (req.body ?? {}) as Record<string, unknown>;
    const field = (name: string) => (typeof fields[name] === "string" ? (fields[name] as string) : undefined);
    const session = field("session");
    const paymentMethod = field("paymentMethod");
    return {
      ...(session !== undefined ? { session } : {}),
      ...(paymentMethod !== undefined ? { paymentMethod } : {}),
    };
  };
  const sessionOf = (req: Request) => (typeof req.query.session === "string" ? req.query.session : undefined);

  app.get(`${LOCAL_PAGES_PATH}/checkout`, (req, res) => send(res, routes.checkoutPage(sessionOf(req))));
  app.post(`${LOCAL_PAGES_PATH}/checkout`, form, async (req, res) =>
    send(res, await routes.completeCheckout(formOf(req))),
  );
  app.get(`${LOCAL_PAGES_PATH}/portal`, (req, res) => send(res, routes.portalPage(sessionOf(req))));
  app.post(`${LOCAL_PAGES_PATH}/portal`, form, async (req, res) =>
    send(res, await routes.completePortal(formOf(req))),
  );

  const json = [requireJsonBody("rest"), express.json({ limit: bodyLimit })];
  app.post(LOCAL_ATTACH_PATH, ...json, async (req, res) => {
    const session = await userSession(engine, req);
    const { paymentMethod } = parseBody(ZAttachInput, req.body);
    const output: z.input<typeof ZAttachOutput> = await routes.attach(session.user, paymentMethod);
    res.json(output);
  });
  app.post(LOCAL_AUTHENTICATE_PATH, ...json, async (req, res) => {
    const session = await userSession(engine, req);
    const { paymentIntentId } = parseBody(ZAuthenticateInput, req.body);
    const output: z.input<typeof ZAuthenticateOutput> = await routes.authenticate(
      session.user,
      paymentIntentId,
    );
    res.json(output);
  });
}

/**
 * OpenAPI path items (relative to `/api`) of these routes, generated from the schemas above; they
 * are not tRPC procedures, so the router's document does not know them.
 */
export function billingOpenApiPaths(options: { local: boolean }): Record<string, unknown> {
  const api = (path: string) => path.slice("/api".length);
  const paths: ZodOpenApiPathsObject = {
    [api(WEBHOOK_PATH)]: { post: WEBHOOK_OPERATION },
    ...(options.local
      ? {
          [api(LOCAL_ATTACH_PATH)]: { post: LOCAL_OPERATIONS.attach },
          [api(LOCAL_AUTHENTICATE_PATH)]: { post: LOCAL_OPERATIONS.authenticate },
        }
      : {}),
  };
  return createDocument({
    openapi: "3.1.0",
    info: { title: "Spell billing routes", version: "1.0.0" },
    paths,
  }).paths as Record<string, unknown>;
}

/** The default return page of Checkout and the portal for clients without a web UI (the CLI). */
export function mountReturnPage(app: Express): void {
  app.get(BILLING_RETURN_PATH, (req, res) => {
    const canceled = req.query.status === "cancel";
    res
      .status(200)
      .set({ "content-security-policy": "default-src 'none'", "cache-control": "no-store" })
      .type("text/plain")
      .send(
        canceled
          ? "Spell: nothing was saved. You can close this page.\n"
          : "Spell: done. You can close this page and go back to your terminal.\n",
      );
  });
}
