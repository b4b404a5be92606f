import { randomUUID } from "node:crypto";
import type { PrepaidBilling } from "@spell/billing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type PrepaidSimHarness, startPrepaidSimHarness } from "./testutil/billing.ts";
import type { Caller } from "./testutil/harness.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * Auto-reload end to end: executes drain the balance below the threshold, the prepaid adapter
 * charges the saved card with a `confirm=true` PaymentIntent on the in-repo Stripe simulation,
 * once per claim, credited once, never past the monthly cap; a declined card leaves the balance.
 */
describe.runIf(process.env.DATABASE_URL)("prepaid auto-reload", () => {
  let s: PrepaidSimHarness;
  beforeAll(async () => {
    s = await startPrepaidSimHarness();
    await s.h.publish(pricedSpell("five@v1", 5));
    await s.h.publish(pricedSpell("fifty@v1", 50));
  }, 60_000);
  afterAll(() => s?.close());
  afterEach(() => reconcileLedger(s.h.testDb.database));

  const prepaid = () => s.h.billing.billing as PrepaidBilling;
  const execute = (user: Caller, spell: string) =>
    s.h.call("POST", "/api/spell/execute", { token: user.token, body: { spell, input: {} } });
  const account = async (user: Caller) =>
    (await s.h.call("GET", "/api/billing/balance", { token: user.token })).body.account;
  /** The auto-reload PaymentIntents Stripe holds for this user. */
  const reloadsOf = (user: Caller) =>
    [...s.sim.state.paymentIntents.values()].filter(
      (intent) =>
        (intent.metadata as Record<string, string>).user_id === user.id &&
        intent.description === "auto-reload",
    );

  async function fundedWithReload(cents: number, autoReload: Record<string, unknown>): Promise<Caller> {
    const user = await s.h.user("reload");
    await s.saveCard(user);
    const topUp = await s.h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: cents, idempotencyKey: randomUUID() },
    });
    expect(topUp.body, JSON.stringify(topUp.body)).toMatchObject({ status: "succeeded", credited: true });
    const set = await s.h.call("POST", "/api/billing/auto-reload", {
      token: user.token,
      body: { autoReload },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    return user;
  }

  it("reloads once when concurrent debits cross the threshold, credited once, within the monthly cap", async () => {
    const user = await fundedWithReload(100, { threshold: 500_000, amount: 100, monthlyCap: 200 });
    // 12 × 5¢ at once: the balance crosses 50¢ (at 45¢ and 40¢) in two concurrent charges.
    const runs = await Promise.all(Array.from({ length: 12 }, () => execute(user, "five@v1")));
    expect(runs.every((run) => run.status === 200)).toBe(true);
    await prepaid().idle();
    const reloads = reloadsOf(user);
    expect(reloads).toHaveLength(1);
    expect(reloads[0]).toMatchObject({ status: "succeeded", amount: 100, confirmation_method: "automatic" });
    expect((await account(user)).balance).toBe(140 * 10_000);
    // Stripe's webhook for the same PaymentIntent credits nothing more.
    const webhook = await s.deliver("payment_intent.succeeded", reloads[0] as Record<string, unknown>);
    expect(webhook.status).toBe(200);
    expect((await account(user)).balance).toBe(140 * 10_000);

    // 140 → 90 → 40: the second reload (200¢ this month, the cap) → 140 → 90 → 40: none past the cap.
    for (let i = 0; i < 4; i++) {
      expect((await execute(user, "fifty@v1")).status).toBe(200);
      await prepaid().idle();
    }
    expect(reloadsOf(user)).toHaveLength(2);
    const after = await account(user);
    expect(after.balance).toBe(40 * 10_000);
    expect(after.autoReloadState).toEqual({ monthReloaded: 200, lastFailure: null });
    const entries = await s.h.testDb.database.ledger.entries(user.id, 100);
    const topUps = entries.filter((entry) => entry.kind === "top_up");
    expect(topUps).toHaveLength(3);
    expect(new Set(topUps.map((entry) => entry.paymentIntentId)).size).toBe(3);
  });

  it("a declined card leaves the balance, records the failure and gives the month's allowance back", async () => {
    const user = await fundedWithReload(100, { threshold: 500_000, amount: 100, monthlyCap: 100 });
    await s.saveCard(user, "pm_card_chargeDeclined");
    expect((await execute(user, "fifty@v1")).status).toBe(200);
    expect((await execute(user, "fifty@v1")).status).toBe(200);
    await prepaid().idle();
    const after = await account(user);
    expect(after.balance).toBe(0);
    expect(after.autoReloadState).toMatchObject({
      monthReloaded: 0,
      lastFailure: { code: "BILLING_FAILED:generic_decline", at: expect.any(String) },
    });
    expect(reloadsOf(user).every((intent) => intent.status !== "succeeded")).toBe(true);
    // Backing off: the next refusal does not try the card again within the window.
    const attempts = s.sim.requestsTo("/v1/payment_intents", "POST").length;
    expect((await execute(user, "five@v1")).body.error.code).toBe("INSUFFICIENT_BALANCE");
    await prepaid().idle();
    expect(s.sim.requestsTo("/v1/payment_intents", "POST").length).toBe(attempts);
  });
});
