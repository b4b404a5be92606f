import type { Billing, Charge, ChargeRequest, NewExecution } from "@spell/engine";
import { createMemoryEngineDeps, spellRecord } from "@spell/engine/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withTokenSpendCaps } from "./compose-billing.ts";
import type { Harness } from "./testutil/harness.ts";
import { fundedUser, startLocalPrepaidHarness } from "./testutil/prepaid.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * Prepaid executes without an idempotency key: the begin and the reserve are one statement (one
 * transaction, committed asynchronously), the finish is the only synchronous commit.
 */
describe.runIf(process.env.DATABASE_URL)("prepaid begin and reserve in one statement", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startLocalPrepaidHarness([pricedSpell("fold-cent@v1", 1)]);
  }, 60_000);
  afterAll(() => h?.close());
  afterEach(() => reconcileLedger(h.testDb.database));

  const execute = (token: string, body: Record<string, unknown> = {}, headers?: Record<string, string>) =>
    h.call("POST", "/api/spell/execute", {
      token,
      body: { spell: "fold-cent@v1", input: { a: 1 }, ...body },
      ...(headers ? { headers } : {}),
    });

  /** The execution row and its reserve entry, with the start of the transaction each was written in. */
  async function writtenTogether(executionId: string) {
    const prisma = h.testDb.database.prisma;
    const execution = await prisma.execution.findUniqueOrThrow({ where: { id: executionId } });
    const reserve = await prisma.ledgerEntry.findFirstOrThrow({ where: { executionId, kind: "reserve" } });
    // `now()` is the transaction's start: equal only when one statement wrote both.
    return { execution, together: execution.createdAt.getTime() === reserve.createdAt.getTime() };
  }

  it("the composed billing offers the fold (no wrapper drops it)", () => {
    expect(typeof h.billing.billing.chargeAtBegin).toBe("function");
  });

  it("a call without a key writes its row and its reserve in one transaction, then debits in the finish", async () => {
    const user = await fundedUser(h, 50, "fold");
    const run = await execute(user.token);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.billing).toMatchObject({ charged: true, status: "charged", amount: 1 });
    const { execution, together } = await writtenTogether(run.body.executionId);
    expect(together).toBe(true);
    expect(execution).toMatchObject({ status: "succeeded", idempotencyKey: null, amount: 1 });
    const entries = await h.testDb.database.ledger.entries(user.id, 10);
    expect(entries.map((entry) => entry.kind)).toEqual(["debit", "reserve", "top_up"]);
  });

  it("a call with a key keeps the begin and the reserve apart (the key's arbitration comes first)", async () => {
    const user = await fundedUser(h, 50, "keyed");
    const run = await execute(user.token, {}, { "idempotency-key": "fold-key-1" });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    const { together } = await writtenTogether(run.body.executionId);
    expect(together).toBe(false);
    const again = await execute(user.token, {}, { "idempotency-key": "fold-key-1" });
    expect(again.body.executionId).toBe(run.body.executionId);
    expect((await h.testDb.database.ledger.entries(user.id, 10)).map((entry) => entry.kind)).toEqual([
      "debit",
      "reserve",
      "top_up",
    ]);
  });

  it("a refusal reserves nothing, runs nothing, and logs the execution failed with its error", async () => {
    const user = await h.user("fold-broke");
    const refused = await execute(user.token);
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({
      code: "INSUFFICIENT_BALANCE",
      details: { balance: 0, missing: 10_000, unit: "micros" },
    });
    const rows = await h.testDb.database.prisma.execution.findMany({ where: { userId: user.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "failed", errorCode: "INSUFFICIENT_BALANCE" });
    expect(rows[0]?.outcome).toMatchObject({ kind: "failed", error: { code: "INSUFFICIENT_BALANCE" } });
    expect(await h.testDb.database.ledger.entries(user.id, 10)).toEqual([]);
  });

  it("a daily cap refuses the folded reserve with the reset time, writing no reserve", async () => {
    const user = await fundedUser(h, 50, "fold-capped");
    await h.testDb.database.ledger.setLimits(user.id, "usd", "user", { daily: 5_000 });
    const refused = await execute(user.token);
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { limit: "day", max: 5_000, spent: 0, price: 10_000, unit: "micros" },
    });
    expect((await h.testDb.database.ledger.entries(user.id, 10)).map((entry) => entry.kind)).toEqual([
      "top_up",
    ]);
  });
});

describe("token caps and the fold (withTokenSpendCaps)", () => {
  const { billing } = createMemoryEngineDeps();
  const folded: string[] = [];
  const inner: Billing = {
    ...billing.billing,
    async chargeAtBegin(request: ChargeRequest, execution: NewExecution): Promise<Charge | null> {
      folded.push(execution.id);
      return {
        billingRecordId: "r",
        paymentIntentId: "prepaid:r",
        amount: request.price.amount,
        currency: "usd",
      };
    },
  };
  const spell = spellRecord({ slug: "cent@v1", price: { amount: 1, currency: "usd" } });
  const user = {
    id: "u",
    status: "active" as const,
    stripeCustomerId: null,
    hasPaymentMethod: false,
    createdAt: new Date(),
  };
  const execution: NewExecution = {
    id: "e1",
    userId: "u",
    spellId: spell.id,
    slug: spell.slug,
    runtime: "builtin",
    price: spell.price,
    idempotencyKey: null,
    requestHash: "",
  };
  const request = { executionId: "e1", user, spell, price: spell.price };

  it("passes an uncapped call to the adapter's fold", async () => {
    const capped = withTokenSpendCaps(inner, null, { prepaid: true });
    await expect(capped.chargeAtBegin?.(request, execution)).resolves.toMatchObject({ billingRecordId: "r" });
    expect(folded).toEqual(["e1"]);
  });

  it("answers null for a capped token (its spend is reserved between the begin and the charge)", async () => {
    folded.length = 0;
    const capped = withTokenSpendCaps(inner, null, { prepaid: true });
    const maxSpend = { amount: 3, currency: "usd", key: "jti:x", expiresAt: null };
    await expect(capped.chargeAtBegin?.({ ...request, maxSpend }, execution)).resolves.toBeNull();
    expect(folded).toEqual([]);
  });

  it("offers no fold when the adapter has none (per use)", () => {
    expect(withTokenSpendCaps(billing.billing, null, { prepaid: false }).chargeAtBegin).toBeUndefined();
  });
});
