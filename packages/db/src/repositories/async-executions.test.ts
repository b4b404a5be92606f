import type { Charge, SpellRecord, StoredOutcome } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
let spell: SpellRecord;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  spell = await t.database.spells.publish(publishRequest({ slug: "queued@v1" }));
  await t.database.users.ensureUser("owner");
});
afterAll(() => t?.drop());

const charge: Charge = {
  billingRecordId: "00000000-0000-4000-8000-000000000001",
  paymentIntentId: "pi_queued_1",
  amount: 75,
  currency: "usd",
};
const succeeded: StoredOutcome = {
  kind: "succeeded",
  spell: { slug: "queued@v1", runtime: "builtin" },
  output: { done: true },
  durationMs: 3,
  billing: { charged: false, status: "pending", amount: 75, currency: "usd", billingRecordId: null },
};
const canceled: StoredOutcome = {
  kind: "failed",
  error: { code: "EXECUTION_CANCELED", message: "canceled", details: { reason: "canceled" } },
};

async function queued(options: { charge?: Charge | null; cancelAfter?: Date | null } = {}) {
  const execution = newExecution({ userId: "owner", spellId: spell.id, slug: spell.slug });
  await t.database.executions.begin(execution);
  await t.database.asyncExecutions.queue(execution.id, {
    input: { n: 1 },
    charge: options.charge ?? null,
    cancelAfter: options.cancelAfter ?? null,
    webhook: null,
  });
  return execution;
}

const settlementsOf = (executionId: string) =>
  t.database.prisma.$queryRawUnsafe<Array<{ action: string }>>(
    "SELECT action FROM settlements WHERE execution_id = $1::uuid",
    executionId,
  );

describe("asynchronous executions' rows", () => {
  it("of ten concurrent claims exactly one gets the run, with its input", async () => {
    const execution = await queued();
    const claims = await Promise.all(
      Array.from({ length: 10 }, () => t.database.asyncExecutions.claim(execution.id)),
    );
    const won = claims.filter((claim) => claim !== null);
    expect(won).toHaveLength(1);
    expect(won[0]).toMatchObject({
      execution: { id: execution.id, userId: "owner" },
      input: { n: 1 },
      charge: null,
    });
    expect((await t.database.executions.get(execution.id))?.status).toBe("running");
  });

  it("a queued run past its deadline cannot be claimed, only expired", async () => {
    const execution = await queued({ cancelAfter: new Date(Date.now() - 1_000) });
    expect(await t.database.asyncExecutions.claim(execution.id)).toBeNull();
    const expired = await t.database.asyncExecutions.cancelQueued(execution.id, {
      onlyExpired: true,
      outcome: canceled,
      finishedAt: new Date(),
    });
    expect(expired).toEqual({ canceled: true, charge: null });
    expect((await t.database.executions.get(execution.id))?.status).toBe("canceled");
  });

  it("canceling a queued charged run records its pending cancel in the same statement, once", async () => {
    const execution = await queued({ charge });
    const first = await t.database.asyncExecutions.cancelQueued(execution.id, {
      userId: "owner",
      outcome: canceled,
      finishedAt: new Date(),
    });
    expect(first).toEqual({ canceled: true, charge });
    const again = await t.database.asyncExecutions.cancelQueued(execution.id, {
      userId: "owner",
      outcome: canceled,
      finishedAt: new Date(),
    });
    expect(again.canceled).toBe(false);
    expect(await t.database.asyncExecutions.claim(execution.id)).toBeNull();
    expect(await settlementsOf(execution.id)).toEqual([{ action: "cancel" }]);
  });

  it("another user's cancel changes nothing", async () => {
    const execution = await queued();
    const result = await t.database.asyncExecutions.cancelQueued(execution.id, {
      userId: "someone-else",
      outcome: canceled,
      finishedAt: new Date(),
    });
    expect(result.canceled).toBe(false);
    expect(await t.database.asyncExecutions.getOwned(execution.id, "someone-else")).toBeNull();
    expect((await t.database.asyncExecutions.getOwned(execution.id, "owner"))?.status).toBe("queued");
  });

  it("a run canceled while running keeps canceled: its success is not stored and its capture becomes a cancel", async () => {
    const execution = await queued({ charge: { ...charge, paymentIntentId: "pi_queued_2" } });
    expect(await t.database.asyncExecutions.claim(execution.id)).not.toBeNull();
    expect(await t.database.asyncExecutions.cancelRunning(execution.id, "owner", canceled, new Date())).toBe(
      true,
    );
    const finished = await t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), null, {
      action: "capture",
      charge: { ...charge, paymentIntentId: "pi_queued_2" },
    });
    expect(finished).toBe(false);
    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "canceled",
      outcome: canceled,
    });
    expect(await settlementsOf(execution.id)).toEqual([{ action: "cancel" }]);
  });

  it("a running run finishes with its capture recorded", async () => {
    const execution = await queued({ charge: { ...charge, paymentIntentId: "pi_queued_3" } });
    await t.database.asyncExecutions.claim(execution.id);
    const finished = await t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), "log", {
      action: "capture",
      charge: { ...charge, paymentIntentId: "pi_queued_3" },
    });
    expect(finished).toBe(true);
    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "succeeded",
      outcome: succeeded,
    });
    expect(await settlementsOf(execution.id)).toEqual([{ action: "capture" }]);
  });
});

describe("a run whose worker died mid-run", () => {
  it("fails once stale, with a pending cancel; a live one is left alone", async () => {
    const interrupted: StoredOutcome = {
      kind: "failed",
      error: { code: "RUNTIME_ERROR", message: "interrupted", details: { reason: "interrupted" } },
    };
    const execution = await queued({ charge: { ...charge, paymentIntentId: "pi_queued_4" } });
    await t.database.asyncExecutions.claim(execution.id);
    expect(
      (await t.database.asyncExecutions.failStale(execution.id, 60_000, interrupted, new Date())).failed,
    ).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stale = await t.database.asyncExecutions.failStale(execution.id, 1, interrupted, new Date());
    expect(stale).toEqual({ failed: true, charge: { ...charge, paymentIntentId: "pi_queued_4" } });
    expect((await t.database.executions.get(execution.id))?.status).toBe("failed");
    expect(await settlementsOf(execution.id)).toEqual([{ action: "cancel" }]);
    expect(await t.database.asyncExecutions.claim(execution.id)).toBeNull();
  });
});
