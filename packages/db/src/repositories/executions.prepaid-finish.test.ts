import { randomUUID } from "node:crypto";
import { createNoBilling, createPrepaidBilling } from "@spell/billing";
import type { Charge, SpellRecord, StoredOutcome } from "@spell/engine";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  ledgerReserveCharge,
  newExecution,
  pendingSuccess,
  publishRequest,
  type TestDatabase,
} from "../testing/index.ts";

let t: TestDatabase;
let spell: SpellRecord;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  spell = await t.database.spells.publish(publishRequest({ slug: "prepaid-finish@v1" }));
});
afterAll(() => t?.drop());
afterEach(async () => {
  expect(await t.database.ledger.reconcile()).toEqual([]);
});

const DAY = "2026-12-15";
const MONTH = "2026-12-01";
const succeeded = pendingSuccess("prepaid-finish@v1");
const failed: StoredOutcome = {
  kind: "failed",
  error: { code: "RUNTIME_ERROR", message: "boom", details: {} },
};

/** A user with 10 000 micros, one running execution and its 4 000 reserve, as the prepaid adapter leaves them. */
async function reservedRun(userId: string): Promise<{ executionId: string; charge: Charge }> {
  await t.database.users.ensureUser(userId);
  await t.database.ledger.creditTopUp({
    userId,
    currency: "usd",
    amount: 10_000,
    paymentIntentId: `pi_${randomUUID()}`,
    description: "top-up",
  });
  const execution = newExecution({ userId, spellId: spell.id, slug: spell.slug });
  await t.database.executions.begin(execution);
  const reserved = await t.database.ledger.reserve({
    userId,
    currency: "usd",
    amount: 4_000,
    executionId: execution.id,
    description: spell.slug,
    day: DAY,
    month: MONTH,
  });
  if (reserved.kind !== "reserved") throw new Error("not reserved");
  const charge = ledgerReserveCharge(reserved.entry.id);
  return { executionId: execution.id, charge };
}

const settlementOf = (key: string) =>
  t.database.prisma.settlement.findUniqueOrThrow({ where: { paymentIntentId: key } });
const kindsOf = async (userId: string) =>
  (await t.database.ledger.entries(userId, 10)).map((entry) => entry.kind).sort();
const balanceOf = async (userId: string) =>
  (await t.database.ledger.account(userId, "usd", DAY, MONTH)).balance;

describe("finish of a prepaid execution", () => {
  it("stores the answer and debits the reserve in the same statement: nothing is left pending", async () => {
    const { executionId, charge } = await reservedRun("debited");
    const finished = await t.database.executions.finish(executionId, succeeded, new Date(), null, {
      action: "capture",
      charge,
    });
    expect(finished).toEqual({ settled: true });
    expect(await t.database.executions.get(executionId)).toMatchObject({ status: "succeeded" });
    expect(await kindsOf("debited")).toEqual(["debit", "reserve", "top_up"]);
    expect(await balanceOf("debited")).toBe(6_000);
    expect(await settlementOf(charge.paymentIntentId)).toMatchObject({ status: "done", result: "succeeded" });
    // The sweep finds nothing to do, and a late settle of the same reserve is refused by the unique index.
    expect(await t.database.ledger.sweep(0)).toBe(0);
    expect(
      await t.database.ledger.settleReserve(charge.billingRecordId, "release", charge.paymentIntentId),
    ).toBe("already");
    expect(await balanceOf("debited")).toBe(6_000);
  });

  it("stores the failure and releases the reserve in the same statement", async () => {
    const { executionId, charge } = await reservedRun("released");
    const finished = await t.database.executions.finish(executionId, failed, new Date(), null, {
      action: "cancel",
      charge,
    });
    expect(finished).toEqual({ settled: true });
    expect(await t.database.executions.get(executionId)).toMatchObject({ status: "failed" });
    expect(await kindsOf("released")).toEqual(["release", "reserve", "top_up"]);
    expect(await balanceOf("released")).toBe(10_000);
    expect(await settlementOf(charge.paymentIntentId)).toMatchObject({ status: "done", result: "canceled" });
  });

  it("a reserve the sweep released already is not settled twice: the order is stored pending", async () => {
    const { executionId, charge } = await reservedRun("swept");
    expect(
      await t.database.ledger.settleReserve(charge.billingRecordId, "release", charge.paymentIntentId),
    ).toBe("settled");
    const finished = await t.database.executions.finish(executionId, succeeded, new Date(), null, {
      action: "capture",
      charge,
    });
    expect(finished).toEqual({ settled: false });
    expect(await t.database.executions.get(executionId)).toMatchObject({ status: "succeeded" });
    expect(await kindsOf("swept")).toEqual(["release", "reserve", "top_up"]);
    expect(await balanceOf("swept")).toBe(10_000);
    expect(await settlementOf(charge.paymentIntentId)).toMatchObject({ status: "pending" });
  });

  it("concurrent finishes of one reserve debit it exactly once", async () => {
    const { executionId, charge } = await reservedRun("racing");
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.database.executions.finish(executionId, succeeded, new Date(), null, { action: "capture", charge }),
      ),
    );
    expect(results.filter((result) => result?.settled)).toHaveLength(1);
    expect(await kindsOf("racing")).toEqual(["debit", "reserve", "top_up"]);
    expect(await balanceOf("racing")).toBe(6_000);
  });

  it("a charge that is not a ledger reserve keeps its settlement pending for the adapter", async () => {
    const { executionId, charge } = await reservedRun("per-use");
    const { ledgerReserve: _, ...cardCharge } = charge;
    const finished = await t.database.executions.finish(executionId, succeeded, new Date(), null, {
      action: "capture",
      charge: cardCharge,
    });
    expect(finished).toEqual({ settled: false });
    expect(await kindsOf("per-use")).toEqual(["reserve", "top_up"]);
    expect(await settlementOf(charge.paymentIntentId)).toMatchObject({ status: "pending" });
    await t.database.ledger.settleReserve(charge.billingRecordId, "debit", charge.paymentIntentId);
  });
});

/** The prepaid adapter over this database's ledger, as the server builds it (no top-ups needed here). */
const prepaidAdapter = () =>
  createPrepaidBilling({
    ledger: t.database.ledger,
    customers: { getCustomer: async () => ({ stripeCustomerId: null, defaultPaymentMethodId: null }) },
    cards: createNoBilling(),
    topUps: null,
    sweepIntervalMs: 0,
  });

describe("a prepaid finish whose reply was lost", () => {
  it("a finish sent again with a cancel changes nothing: the stored success and its debit stay", async () => {
    const { executionId, charge } = await reservedRun("lost-reply");
    expect(
      await t.database.executions.finish(executionId, succeeded, new Date(), null, {
        action: "capture",
        charge,
      }),
    ).toEqual({ settled: true });
    // The engine saw an error instead of that answer, so `finishLater` stores the failure with a cancel.
    const resent = await t.database.executions.finish(
      executionId,
      { kind: "failed", error: { code: "SERVICE_UNAVAILABLE", message: "lost", details: {} } },
      new Date(),
      null,
      { action: "cancel", charge },
    );
    expect(resent).toEqual({ settled: false });
    expect(await t.database.executions.get(executionId)).toMatchObject({
      status: "succeeded",
      outcome: succeeded,
    });
    expect(await kindsOf("lost-reply")).toEqual(["debit", "reserve", "top_up"]);
    expect(await balanceOf("lost-reply")).toBe(6_000);
    expect(await settlementOf(charge.paymentIntentId)).toMatchObject({ status: "done", result: "succeeded" });
  });

  it("the adapter's release of a reserve the finish debited answers charged, and moves no money", async () => {
    const { executionId, charge } = await reservedRun("lost-reply-settle");
    await t.database.executions.finish(executionId, succeeded, new Date(), null, {
      action: "capture",
      charge,
    });
    const billing = prepaidAdapter();
    try {
      expect(await billing.settle(charge, "failed")).toEqual({ status: "charged", refunded: false });
    } finally {
      await billing.close();
    }
    expect(await t.database.ledger.settlementOf(charge.billingRecordId)).toBe("debit");
    expect(await balanceOf("lost-reply-settle")).toBe(6_000);
  });

  it("the adapter's debit of a reserve released before answers not charged", async () => {
    const { executionId, charge } = await reservedRun("released-first");
    await t.database.executions.finish(executionId, failed, new Date(), null, { action: "cancel", charge });
    const billing = prepaidAdapter();
    try {
      expect(await billing.settle(charge, "succeeded")).toEqual({ status: "not_charged", refunded: true });
    } finally {
      await billing.close();
    }
    expect(await balanceOf("released-first")).toBe(10_000);
  });
});
