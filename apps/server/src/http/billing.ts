import type { LocalHttpResponse, LocalTestRoutes, StripeBilling } from "@spell/billing";
import { AppError } from "@spell/contracts";
import type { Engine, Session } from "@spell/engine";
import express, { type Express, type Request, type Response } from "express";
import { z } from "zod";
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
    res.json({ ok: true, received: result.received, duplicate: result.duplicate });
  });
}

/** A non-banned caller from the bearer token, as `userProcedure` checks it on tRPC. */
async function userSession(engine: Engine, req: Request): Promise<Session> {
  const session = await engine.authenticate(req.headers.authorization);
  if (session.user.status === "banned") {
    throw new AppError("USER_BANNED", "This account is banned", { userId: session.user.id });
  }
  return session;
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

function send(res: Response, answer: LocalHttpResponse): void {
  res.status(answer.status).set(answer.headers).send(answer.body);
}

const ZAttachInput = z.object({ paymentMethod: z.string().min(1).max(255) });
const ZAuthenticateInput = z.object({ paymentIntentId: z.string().min(1).max(255) });

/**
 * The LOCAL TEST provider's pages and its two JSON routes (quick start only): a checkout page to
 * pick a test card, `attach` to save one without a browser, `authenticate` standing in for 3-D Secure.
 */
export function mountLocalTestRoutes(app: Express, routes: LocalTestRoutes, context: BillingRouteContext) {
  const { engine, bodyLimit } = context;
  app.get("/local-billing/checkout", (req, res) => {
    const session = typeof req.query.session === "string" ? req.query.session : undefined;
    send(res, routes.checkoutPage(session));
  });
  app.post(
    "/local-billing/checkout",
    express.urlencoded({ extended: false, limit: bodyLimit }),
    async (req, res) => {
      const form = (req.body ?? {}) as Record<string, unknown>;
      const field = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : undefined);
      const session = field("session");
      const paymentMethod = field("paymentMethod");
      send(
        res,
        await routes.completeCheckout({
          ...(session !== undefined ? { session } : {}),
          ...(paymentMethod !== undefined ? { paymentMethod } : {}),
        }),
      );
    },
  );
  const json = [requireJsonBody("rest"), express.json({ limit: bodyLimit })];
  app.post(LOCAL_ATTACH_PATH, ...json, async (req, res) => {
    const session = await userSession(engine, req);
    const { paymentMethod } = parseBody(ZAttachInput, req.body);
    res.json(await routes.attach(session.user.id, paymentMethod));
  });
  app.post(LOCAL_AUTHENTICATE_PATH, ...json, async (req, res) => {
    const session = await userSession(engine, req);
    const { paymentIntentId } = parseBody(ZAuthenticateInput, req.body);
    res.json(await routes.authenticate(session.user.id, paymentIntentId));
  });
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
