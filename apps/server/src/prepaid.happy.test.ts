import { randomUUID } from "node:crypto";
import type { PrepaidBilling } from "@spell/billing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Caller, Harness } from "./testutil/harness.ts";
import { attachLocalCard, fundedUser, startLocalPrepaidHarness } from "./testutil/prepaid.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * Prepaid mode end to end over HTTP: the LOCAL TEST provider saves the card and charges the top-ups,
 * the ledger pays for executes. Needs a PostgreSQL server (prepaid refuses the embedded database).
 */
describe.runIf(process.env.DATABASE_URL)("prepaid mode", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startLocalPrepaidHarness([
      pricedSpell("cent@v1", 1),
      pricedSpell("resize-cent@v1", 1, { builtin: "resize" }),
    ]);
  }, 60_000);
  afterAll(() => h?.close());
  // Reconcile: every user's ledger entries sum to the balance, after every test.
  afterEach(() => reconcileLedger(h.testDb.database));

  const prepaid = () => h.billing.billing as PrepaidBilling;

  const funded = (cents: number) => fundedUser(h, cents, "payer");

  const balanceOf = async (user: Caller) =>
    (await h.call("GET", "/api/billing/balance", { token: user.token })).body.account.balance as number;

  it("executes a 1¢ spell from the balance: reserve then debit, no card charge per call", async () => {
    const user = await funded(50);
    const run = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1", input: { hi: 1 } },
    });
    expect(run.status).toBe(200);
    expect(run.body.billing).toMatchObject({ charged: true, status: "charged", amount: 1, currency: "usd" });
    expect(await balanceOf(user)).toBe(49 * 10_000);
    const history = await h.call("GET", "/api/billing/history", { token: user.token });
    expect(history.body.entries.map((entry: { kind: string }) => entry.kind)).toEqual([
      "debit",
      "reserve",
      "top_up",
    ]);
    const me = await h.call("GET", "/api/me", { token: user.token });
    expect(me.body.prepaid.account.balance).toBe(49 * 10_000);
    expect(me.body.prepaid.recent).toHaveLength(3);
  });

  it("releases the reserve of a failed run", async () => {
    const user = await funded(50);
    const run = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "resize-cent@v1", input: { image: "aGVsbG8gd29ybGQ=" } },
    });
    expect(run.status, JSON.stringify(run.body)).toBeGreaterThanOrEqual(400);
    expect(run.body.error.details.billing).toMatchObject({ charged: false, refunded: true });
    expect(await balanceOf(user)).toBe(50 * 10_000);
    const kinds = (await h.call("GET", "/api/billing/history", { token: user.token })).body.entries.map(
      (entry: { kind: string }) => entry.kind,
    );
    expect(kinds).toEqual(["release", "reserve", "top_up"]);
  });

  it("answers INSUFFICIENT_BALANCE with what is missing, and runs nothing", async () => {
    const user = await h.user("broke");
    const run = await h.call("POST", "/api/spell/execute", { token: user.token, body: { spell: "cent@v1" } });
    expect(run.status).toBe(402);
    expect(run.body.error).toMatchObject({
      code: "INSUFFICIENT_BALANCE",
      details: { missing: 10_000, balance: 0, currency: "usd" },
    });
  });

  it("credits a top-up confirmed twice (the answer and the webhook) once", async () => {
    const user = await h.user("twice");
    await attachLocalCard(h, user);
    const key = `k-${randomUUID()}`;
    const first = await h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: 100, idempotencyKey: key },
    });
    expect(first.body).toMatchObject({ status: "succeeded", credited: true, balance: 1_000_000 });
    // The same confirmation as the webhook delivers it, and a client retry with the same key.
    const webhook = await prepaid().creditConfirmedTopUp({
      id: first.body.paymentIntentId,
      status: "succeeded",
      amount: 100,
      currency: "usd",
      userId: user.id,
      clientSecret: null,
    });
    expect(webhook.credited).toBe(false);
    const retry = await h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: 100, idempotencyKey: key },
    });
    expect(retry.body).toMatchObject({
      paymentIntentId: first.body.paymentIntentId,
      credited: false,
      balance: 1_000_000,
    });
    expect(await balanceOf(user)).toBe(1_000_000);
  });

  it("refuses a top-up below the card minimum and without a card", async () => {
    const user = await h.user("nocard");
    const noCard = await h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: 100, idempotencyKey: "a" },
    });
    expect(noCard.body.error.code).toBe("PAYMENT_METHOD_REQUIRED");
    const tiny = await h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: 10, idempotencyKey: "b" },
    });
    expect(tiny.body.error.code).toBe("PRICE_BELOW_MINIMUM");
  });

  it("refuses a call whose price is above maxCost before anything runs", async () => {
    const user = await funded(50);
    const refused = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1", maxCost: 0.5 },
    });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { limit: "call", max: 0.5 },
    });
    const allowed = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1", maxCost: 1 },
    });
    expect(allowed.status).toBe(200);
    expect(await balanceOf(user)).toBe(49 * 10_000);
  });

  it("enforces daily caps: the admin's ceiling, the user's lower one, with the reset time", async () => {
    const user = await funded(50);
    const admin = await h.admin();
    const set = await h.call("POST", "/api/admin/spend-limits", {
      token: admin.token,
      body: { userId: user.id, daily: 30_000 },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const own = await h.call("POST", "/api/billing/spend-limits", {
      token: user.token,
      body: { daily: 20_000 },
    });
    expect(own.body.account.spendLimits.daily).toMatchObject({
      limit: 20_000,
      adminLimit: 30_000,
      userLimit: 20_000,
    });
    for (let i = 0; i < 2; i++) {
      expect(
        (await h.call("POST", "/api/spell/execute", { token: user.token, body: { spell: "cent@v1" } }))
          .status,
      ).toBe(200);
    }
    const capped = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1" },
    });
    expect(capped.status).toBe(402);
    expect(capped.body.error).toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { limit: "day", max: 20_000, spent: 20_000, resetsAt: expect.any(String) },
    });
    expect(Date.parse(capped.body.error.details.resetsAt)).toBeGreaterThan(Date.now());
    // A user cannot lift the admin's ceiling: the lower one wins.
    await h.call("POST", "/api/billing/spend-limits", { token: user.token, body: { daily: null } });
    const third = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1" },
    });
    expect(third.status).toBe(200);
    const fourth = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1" },
    });
    expect(fourth.body.error).toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { limit: "day", max: 30_000 },
    });
    const monthly = await h.call("POST", "/api/admin/spend-limits", {
      token: admin.token,
      body: { userId: user.id, daily: null, monthly: 30_000 },
    });
    expect(monthly.status).toBe(200);
    const month = await h.call("POST", "/api/spell/execute", {
      token: user.token,
      body: { spell: "cent@v1" },
    });
    expect(month.body.error).toMatchObject({ code: "SPEND_LIMIT_REACHED", details: { limit: "month" } });
    expect(await balanceOf(user)).toBe(47 * 10_000);
  });

  it("a non-admin cannot set another user's ceilings", async () => {
    const user = await h.user("sneaky");
    const refused = await h.call("POST", "/api/admin/spend-limits", {
      token: user.token,
      body: { userId: user.id, daily: 1 },
    });
    expect(refused.status).toBe(403);
  });
});
