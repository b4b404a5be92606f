import { AppError } from "@spell/contracts";
import type { Engine, Session } from "@spell/engine";

/**
 * An Engine for app-level tests that need no database: a token `Bearer <userId>` (prefix `admin:`
 * for admins) authenticates; every operation can be overridden.
 */
export function createFakeEngine(overrides: Partial<Engine> = {}): Engine {
  const session = (authorization: string | undefined): Session => {
    const token = authorization?.replace(/^Bearer /, "");
    if (!token) throw new AppError("UNAUTHORIZED", "Missing bearer token", { reason: "missing_token" });
    const isAdmin = token.startsWith("admin:");
    const userId = isAdmin ? token.slice("admin:".length) : token;
    return {
      caller: {
        userId,
        subject: userId,
        issuer: "https://fake.test",
        isAdmin,
        scopes: isAdmin ? ["spell:admin"] : [],
      },
      user: {
        id: userId,
        status: userId.startsWith("banned") ? "banned" : "active",
        stripeCustomerId: null,
        hasPaymentMethod: false,
        createdAt: new Date(0),
      },
    };
  };
  const notConfigured = async (): Promise<never> => {
    throw new AppError("BILLING_NOT_CONFIGURED", "Billing is not configured", {});
  };
  const engine: Engine = {
    // No access checks: app-level tests that need them run against the real engine.
    authenticate: async (authorization) => session(authorization),
    executeSpell: async (authorization, request) => {
      session(authorization);
      return {
        ok: true,
        executionId: "exe_fake",
        spell: { slug: request.spell, runtime: "builtin" },
        output: request.input,
        billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
        durationMs: 0,
      };
    },
    estimate: async (_session, request) => ({
      ok: true,
      spell: { slug: request.spell, runtime: "builtin", visibility: "public" },
      price: { amount: 0, currency: "usd" },
      paymentMethodRequired: false,
      paymentMethodOnFile: false,
    }),
    listSpells: async () => ({ ok: true, spells: [] }),
    me: async (s) => ({
      ok: true,
      user: {
        id: s.user.id,
        status: s.user.status,
        hasPaymentMethod: false,
        createdAt: new Date(0).toISOString(),
      },
      usage: { totalExecutions: 0, totalCharged: [], recent: [] },
    }),
    publish: async (s, input) => ({
      ok: true,
      created: true,
      changed: ["created"],
      spell: {
        id: "spl_fake",
        slug: input.slug,
        runtime: input.runtime,
        visibility: input.visibility ?? "public",
        teamId: input.teamId ?? null,
        ownerId: s.caller.userId,
        price: { amount: input.priceAmount ?? 0, currency: input.currency ?? "usd" },
        artifactId: "art_fake",
        wasmSha256: null,
        disabled: false,
      },
      signingSecret: null,
    }),
    ban: async (_s, input) => ({ ok: true, userId: input.userId, status: "banned" }),
    unban: async (_s, input) => ({ ok: true, userId: input.userId, status: "active" }),
    setTeamMembership: async (_s, input) => ({
      ok: true,
      teamId: input.teamId,
      userId: input.userId,
      member: input.action === "add",
    }),
    checkoutUrl: notConfigured,
    portalUrl: notConfigured,
    confirmIntent: notConfigured,
    close: async () => {},
    ...overrides,
  };
  return engine;
}
