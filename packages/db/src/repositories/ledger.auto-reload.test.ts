import { randomUUID } from "node:crypto";
import { createNoBilling, createPrepaidBilling, createStripeTopUps } from "@spell/billing";
import {
  type FakeStripeServer,
  spellRecord,
  startFakeStripeServer,
  userRecord,
} from "@spell/billing/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
let stripe: FakeStripeServer;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  stripe = await startFakeStripeServer();
});
afterAll(async () => {
  await stripe?.close();
  await t?.drop();
});
afterEach(async () => {
  expect(await t.database.ledger.reconcile()).toEqual([]);
});

const AT = new Date("2026-12-15T12:00:00Z");
const DAY = "2026-12-15";
const MONTH = "2026-12-01";

/**
 * The prepaid adapter over this database's ledger with top-ups on the fake Stripe over loopback: a
 * user with an empty balance, auto-reload of 1 $ (cap 1 $ a month) and `paymentMethod` saved.
 */
async function reloading(paymentMethod: string) {
  const userId = `reload-${randomUUID()}`;
  await t.database.users.ensureUser(userId);
  await t.database.ledger.setAutoReload(userId, "usd", { threshold: 500_000, amount: 100, monthlyCap: 100 });
  const customer = stripe.fake.createCustomer({ user_id: userId });
  const billing = createPrepaidBilling({
    ledger: t.database.ledger,
    customers: {
      getCustomer: async () => ({
        stripeCustomerId: String(customer.id),
        defaultPaymentMethodId: paymentMethod,
      }),
    },
    cards: createNoBilling(),
    topUps: createStripeTopUps({
      secretKey: "sk_test_reload",
      apiBase: stripe.apiBase,
      maxNetworkRetries: 0,
    }),
    now: () => AT,
    sweepIntervalMs: 0,
  });
  /** A charge the empty balance refuses, which starts the reload; resolves once it ended. */
  const refusedCharge = async () => {
    const price = { amount: 5, currency: "usd" };
    const error = await billing
      .charge({ executionId: randomUUID(), user: userRecord(userId), spell: spellRecord(price), price })
      .catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: "INSUFFICIENT_BALANCE" });
    await billing.idle();
  };
  const account = () => t.database.ledger.account(userId, "usd", DAY, MONTH);
  const intents = () =>
    [...stripe.fake.state.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).user_id === userId,
    );
  /** Moves the last claim out of the 5-minute in-flight window. */
  const pastBackoff = () =>
    t.database.prisma.$executeRawUnsafe(
      "UPDATE ledger_balances SET auto_reload_started_at = now() - interval '10 minutes' WHERE user_id = $1",
      userId,
    );
  return { userId, billing, refusedCharge, account, intents, pastBackoff };
}

describe("auto-reload failures and the monthly cap", () => {
  it("an answer from Stripe that was lost keeps the month's total: the next claim cannot charge past the cap", async () => {
    const r = await reloading("pm_card_visa");
    try {
      // Every answer is lost, the SDK's own retries under the same key included.
      stripe.fake.failNext("/v1/payment_intents", "network-after-commit", 5);
      await r.refusedCharge();
      // Stripe charged the card; only its answer was lost.
      expect(r.intents().map((intent) => intent.status)).toEqual(["succeeded"]);
      const after = await r.account();
      expect(after.autoReloadMonthTotal).toBe(100);
      expect(after.autoReloadFailure?.code).toBe("SERVICE_UNAVAILABLE");
      // Past the in-flight window, the cap (already reached) refuses a second PaymentIntent.
      await r.pastBackoff();
      await r.refusedCharge();
      expect(r.intents()).toHaveLength(1);
    } finally {
      stripe.fake.state.failures.length = 0;
      await r.billing.close();
    }
  });

  it("a definite decline gives the month's total back and records the decline", async () => {
    const r = await reloading("pm_card_chargeDeclined");
    try {
      await r.refusedCharge();
      expect(r.intents().every((intent) => intent.status !== "succeeded")).toBe(true);
      const after = await r.account();
      expect(after.autoReloadMonthTotal).toBe(0);
      expect(after.autoReloadFailure?.code).toBe("BILLING_FAILED:generic_decline");
      expect(after.balance).toBe(0);
      // The allowance is back: past the window the reload is tried again.
      await r.pastBackoff();
      await r.refusedCharge();
      expect(r.intents().length).toBeGreaterThan(1);
    } finally {
      await r.billing.close();
    }
  });
});
