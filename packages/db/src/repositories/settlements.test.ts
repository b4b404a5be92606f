import { type BillingRecordStatus, RECORD_TRANSITIONS } from "@spell/billing";
import type { SettlementOrder, SpellRecord, StoredOutcome } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";

/**
 * The SQL of settlement as durable pending work: the outcome and its capture/cancel written in one
 * statement, Stripe's confirmation recorded in one statement (settlement, record, replayed answer),
 * retries scheduled, and authorizations left without a settlement found by the orphan sweep.
 */

let t: TestDatabase;
let spell: SpellRecord;
let counter = 0;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  spell = await t.database.spells.publish(
    publishRequest({ slug: "settled@v1", price: { amount: 100, currency: "usd" } }),
  );
  await t.database.users.ensureUser("payer");
});
afterAll(() => t?.drop());

/** A running priced execution with its pending billing record (what `charge` leaves behind). */
async function authorized() {
  counter += 1;
  const execution = newExecution({
    userId: "payer",
    spellId: spell.id,
    slug: spell.slug,
    price: { amount: 100, currency: "usd" },
  });
  await t.database.executions.begin(execution);
  const paymentIntentId = `pi_settle_${counter}_${execution.id.slice(0, 8)}`;
  const record = await t.database.billing.createRecord({
    userId: "payer",
    spellId: spell.id,
    executionId: execution.id,
    amount: 100,
    currency: "usd",
    paymentIntentId,
    status: "pending",
    failureCode: null,
  });
  const charge = { billingRecordId: record.id, paymentIntentId, amount: 100, currency: "usd" };
  return { execution, record, charge, paymentIntentId };
}

const pendingSuccess = (billingRecordId: string): StoredOutcome => ({
  kind: "succeeded",
  spell: { slug: "settled@v1", runtime: "builtin" },
  output: { ok: true },
  durationMs: 3,
  billing: {
    charged: false,
    status: "pending",
    pending: true,
    amount: 100,
    currency: "usd",
    billingRecordId,
  },
});

const failedWithRelease = (billingRecordId: string): StoredOutcome => ({
  kind: "failed",
  error: {
    code: "RUNTIME_ERROR",
    message: "boom",
    details: {
      billing: {
        charged: false,
        status: "not_charged",
        refunded: false,
        settlementPending: true,
        amount: 100,
        currency: "usd",
        billingRecordId,
      },
    },
  },
});

const settlementRows = (paymentIntentId: string) =>
  t.database.prisma.$queryRawUnsafe<Array<{ action: string; status: string; result: string | null }>>(
    "SELECT action, status, result FROM settlements WHERE payment_intent_id = $1",
    paymentIntentId,
  );

function settled(status: BillingRecordStatus, charge: "charged" | "not_charged", refunded: boolean) {
  return { status, failureCode: null, from: RECORD_TRANSITIONS[status], charge, refunded };
}

describe("finish with a settlement order", () => {
  it("stores the outcome and its pending capture in one statement; a repeated finish adds no second order", async () => {
    const { execution, record, charge, paymentIntentId } = await authorized();
    const order: SettlementOrder = { action: "capture", charge };
    await t.database.executions.finish(execution.id, pendingSuccess(record.id), new Date(), "log", order);
    await t.database.executions.finish(execution.id, pendingSuccess(record.id), new Date(), "log", order);

    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "succeeded",
      outcome: { billing: { pending: true, status: "pending" } },
    });
    expect(await settlementRows(paymentIntentId)).toEqual([
      { action: "capture", status: "pending", result: null },
    ]);
    expect(await t.database.billing.getSettlement(paymentIntentId)).toMatchObject({
      executionId: execution.id,
      action: "capture",
      status: "pending",
      attempts: 0,
    });
    expect(await t.database.billing.dueSettlements(1000)).toContain(paymentIntentId);
  });

  it("stores neither the outcome nor the order when the outcome cannot be stored (U+0000 in jsonb)", async () => {
    const { execution, record, charge, paymentIntentId } = await authorized();
    const unstorable: StoredOutcome = {
      kind: "succeeded",
      spell: { slug: "settled@v1", runtime: "builtin" },
      output: { text: "a\u0000b" },
      durationMs: 3,
      billing: {
        charged: false,
        status: "pending",
        pending: true,
        amount: 100,
        currency: "usd",
        billingRecordId: record.id,
      },
    };
    await expect(
      t.database.executions.finish(execution.id, unstorable, new Date(), null, { action: "capture", charge }),
    ).rejects.toThrow();
    expect(await t.database.executions.get(execution.id)).toMatchObject({ status: "running", outcome: null });
    expect(await settlementRows(paymentIntentId)).toEqual([]);
  });
});

describe("completing a settlement", () => {
  it("a confirmed capture marks the settlement done, the record succeeded and the stored answer charged", async () => {
    const { execution, record, charge, paymentIntentId } = await authorized();
    await t.database.executions.finish(execution.id, pendingSuccess(record.id), new Date(), null, {
      action: "capture",
      charge,
    });
    await t.database.billing.completeSettlement(paymentIntentId, settled("succeeded", "charged", false));

    expect(await settlementRows(paymentIntentId)).toEqual([
      { action: "capture", status: "done", result: "succeeded" },
    ]);
    expect(await t.database.billing.findRecordByPaymentIntent(paymentIntentId)).toMatchObject({
      status: "succeeded",
    });
    const stored = await t.database.executions.get(execution.id);
    expect(stored?.outcome).toMatchObject({ billing: { charged: true, status: "charged" } });
    expect(stored?.outcome?.kind === "succeeded" && "pending" in stored.outcome.billing).toBe(false);
    expect(await t.database.billing.dueSettlements(1000)).not.toContain(paymentIntentId);

    // Done is final, and a captured record never moves back to released: a late confirmation of
    // another state (a second worker's stale read) changes nothing.
    await t.database.billing.completeSettlement(paymentIntentId, settled("canceled", "not_charged", true));
    expect(await settlementRows(paymentIntentId)).toEqual([
      { action: "capture", status: "done", result: "succeeded" },
    ]);
    expect(await t.database.billing.findRecordByPaymentIntent(paymentIntentId)).toMatchObject({
      status: "succeeded",
    });
  });

  it("a confirmed release marks a failed run's stored error not charged, refunded, no longer pending", async () => {
    const { execution, record, charge, paymentIntentId } = await authorized();
    await t.database.executions.finish(execution.id, failedWithRelease(record.id), new Date(), null, {
      action: "cancel",
      charge,
    });
    await t.database.billing.completeSettlement(paymentIntentId, settled("canceled", "not_charged", true));
    expect(await t.database.billing.findRecordByPaymentIntent(paymentIntentId)).toMatchObject({
      status: "canceled",
    });
    expect((await t.database.executions.get(execution.id))?.outcome).toMatchObject({
      kind: "failed",
      error: {
        code: "RUNTIME_ERROR",
        details: {
          billing: { charged: false, status: "not_charged", refunded: true, settlementPending: false },
        },
      },
    });
  });

  it("an attempt Stripe did not confirm is counted and scheduled later, so it is not due now", async () => {
    const { execution, record, charge, paymentIntentId } = await authorized();
    await t.database.executions.finish(execution.id, pendingSuccess(record.id), new Date(), null, {
      action: "capture",
      charge,
    });
    await t.database.billing.noteSettlementAttempt(paymentIntentId, "StripeConnectionError: reset", 60_000);
    expect(await t.database.billing.getSettlement(paymentIntentId)).toMatchObject({
      status: "pending",
      attempts: 1,
    });
    expect(await t.database.billing.dueSettlements(1000)).not.toContain(paymentIntentId);
    await t.database.billing.noteSettlementAttempt(paymentIntentId, "again", 0);
    expect(await t.database.billing.dueSettlements(1000)).toContain(paymentIntentId);
  });
});

describe("the orphan sweep", () => {
  const age = (paymentIntentId: string) =>
    t.database.prisma.$executeRawUnsafe(
      "UPDATE billing_records SET updated_at = now() - interval '1 hour' WHERE payment_intent_id = $1",
      paymentIntentId,
    );

  it("queues a cancel for an old authorization whose outcome was never stored, and only for those", async () => {
    // An outage mid-run: the row failed without its order (stored later by hand here), nothing settles it.
    const lost = await authorized();
    await t.database.executions.finish(lost.execution.id, failedWithRelease(lost.record.id), new Date());
    await age(lost.paymentIntentId);
    // A crashed process: still `running`, its attempt an hour old.
    const crashed = await authorized();
    await age(crashed.paymentIntentId);
    await t.database.prisma.$executeRawUnsafe(
      "UPDATE executions SET attempted_at = now() - interval '1 hour' WHERE id = $1::uuid",
      crashed.execution.id,
    );
    // A live run: running, its attempt fresh, though its authorization is old.
    const live = await authorized();
    await age(live.paymentIntentId);
    // Young: the run may still be storing its answer.
    const young = await authorized();
    // Settled already: has its order.
    const ordered = await authorized();
    await t.database.executions.finish(
      ordered.execution.id,
      pendingSuccess(ordered.record.id),
      new Date(),
      null,
      {
        action: "capture",
        charge: ordered.charge,
      },
    );
    await age(ordered.paymentIntentId);

    expect(await t.database.billing.queueOrphanCancels(60_000)).toBe(2);
    expect(await settlementRows(lost.paymentIntentId)).toEqual([
      { action: "cancel", status: "pending", result: null },
    ]);
    expect(await settlementRows(crashed.paymentIntentId)).toEqual([
      { action: "cancel", status: "pending", result: null },
    ]);
    expect(await settlementRows(live.paymentIntentId)).toEqual([]);
    expect(await settlementRows(young.paymentIntentId)).toEqual([]);
    expect(await settlementRows(ordered.paymentIntentId)).toEqual([
      { action: "capture", status: "pending", result: null },
    ]);
    const due = await t.database.billing.dueSettlements(1000);
    expect(due).toEqual(expect.arrayContaining([lost.paymentIntentId, crashed.paymentIntentId]));
    // A second sweep finds nothing new.
    expect(await t.database.billing.queueOrphanCancels(60_000)).toBe(0);
  });
});
