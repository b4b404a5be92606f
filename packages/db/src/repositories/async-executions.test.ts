import type { RunWebhook } from "@spell/contracts";
import type { Charge, SpellRecord, StoredOutcome } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";
import { createWebhookStore } from "./webhooks.ts";

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

async function queued(
  options: { charge?: Charge | null; cancelAfter?: Date | null; webhook?: RunWebhook | null } = {},
) {
  const execution = newExecution({ userId: "owner", spellId: spell.id, slug: spell.slug });
  await t.database.executions.begin(execution);
  await t.database.asyncExecutions.queue(execution.id, {
    input: { n: 1 },
    charge: options.charge ?? null,
    cancelAfter: options.cancelAfter ?? null,
    webhook: options.webhook ?? null,
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

describe("the webhook outbox: a delivery written by the transition's own statement", () => {
  const hook = (events: RunWebhook["events"]): RunWebhook => ({ url: "https://hooks.example/run", events });
  const deliveriesOf = (executionId: string) =>
    t.database.prisma.$queryRawUnsafe<Array<{ id: string; event: string; url: string; status: string }>>(
      "SELECT id::text, event, url, status FROM webhook_deliveries WHERE execution_id = $1::uuid ORDER BY event DESC",
      executionId,
    );
  const interrupted: StoredOutcome = {
    kind: "failed",
    error: { code: "RUNTIME_ERROR", message: "interrupted", details: { reason: "interrupted" } },
  };

  /** The ids the store announced while `work` ran (what the webhook worker enqueues at once). */
  async function announced(work: () => Promise<unknown>): Promise<string[]> {
    const ids: string[] = [];
    const unsubscribe = t.database.asyncExecutions.onWebhookDeliveries?.((written) => ids.push(...written));
    try {
      await work();
    } finally {
      unsubscribe?.();
    }
    return ids;
  }

  it("the claim writes start and the finish writes completed, each once and announced after commit", async () => {
    const execution = await queued({ webhook: hook(["start", "completed"]) });
    const onClaim = await announced(async () => {
      await Promise.all(Array.from({ length: 5 }, () => t.database.asyncExecutions.claim(execution.id)));
    });
    const afterClaim = await deliveriesOf(execution.id);
    expect(afterClaim).toEqual([
      { id: onClaim[0], event: "start", url: "https://hooks.example/run", status: "pending" },
    ]);
    expect(onClaim).toHaveLength(1);
    const onFinish = await announced(async () => {
      await t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), null, null);
      await t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), null, null);
    });
    expect(onFinish).toHaveLength(1);
    expect((await deliveriesOf(execution.id)).map((row) => [row.event, row.id])).toEqual([
      ["start", onClaim[0]],
      ["completed", onFinish[0]],
    ]);
  });

  it("only the events asked for: completed only writes nothing at the claim", async () => {
    const execution = await queued({ webhook: hook(["completed"]) });
    expect(await announced(() => t.database.asyncExecutions.claim(execution.id))).toEqual([]);
    expect(await deliveriesOf(execution.id)).toEqual([]);
  });

  it("a run without a webhook writes no delivery on any transition", async () => {
    const execution = await queued();
    await t.database.asyncExecutions.claim(execution.id);
    await t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), null, null);
    expect(await deliveriesOf(execution.id)).toEqual([]);
  });

  it("canceling a queued run writes completed with the cancel (a refused cancel writes nothing)", async () => {
    const execution = await queued({ webhook: hook(["start", "completed"]) });
    const refused = await announced(() =>
      t.database.asyncExecutions.cancelQueued(execution.id, {
        userId: "someone-else",
        outcome: canceled,
        finishedAt: new Date(),
      }),
    );
    expect(refused).toEqual([]);
    const ids = await announced(() =>
      t.database.asyncExecutions.cancelQueued(execution.id, {
        userId: "owner",
        outcome: canceled,
        finishedAt: new Date(),
      }),
    );
    expect(await deliveriesOf(execution.id)).toEqual([
      { id: ids[0], event: "completed", url: "https://hooks.example/run", status: "pending" },
    ]);
  });

  it("canceling a running run writes completed; the worker's later finish adds none", async () => {
    const execution = await queued({
      charge: { ...charge, paymentIntentId: "pi_hook_1" },
      webhook: hook(["completed"]),
    });
    await t.database.asyncExecutions.claim(execution.id);
    expect(await t.database.asyncExecutions.cancelRunning(execution.id, "owner", canceled, new Date())).toBe(
      true,
    );
    const late = await announced(() =>
      t.database.asyncExecutions.finishRun(execution.id, succeeded, new Date(), null, {
        action: "capture",
        charge: { ...charge, paymentIntentId: "pi_hook_1" },
      }),
    );
    expect(late).toEqual([]);
    expect((await deliveriesOf(execution.id)).map((row) => row.event)).toEqual(["completed"]);
  });

  it("a stale run failed by a retried job writes completed", async () => {
    const execution = await queued({
      charge: { ...charge, paymentIntentId: "pi_hook_2" },
      webhook: hook(["completed"]),
    });
    await t.database.asyncExecutions.claim(execution.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const ids = await announced(() =>
      t.database.asyncExecutions.failStale(execution.id, 1, interrupted, new Date()),
    );
    expect(ids).toHaveLength(1);
    expect((await deliveriesOf(execution.id)).map((row) => row.event)).toEqual(["completed"]);
  });
});

describe("the webhook store", () => {
  it("freezes the first body, records attempts and ends a delivery once", async () => {
    const execution = await queued({ webhook: { url: "https://hooks.example/a", events: ["completed"] } });
    const ids: string[] = [];
    const unsubscribe = t.database.asyncExecutions.onWebhookDeliveries?.((written) => ids.push(...written));
    await t.database.asyncExecutions.cancelQueued(execution.id, {
      outcome: canceled,
      finishedAt: new Date(),
    });
    unsubscribe?.();
    const store = createWebhookStore(t.database.prisma);
    const id = ids[0] as string;
    expect(await store.get(id)).toMatchObject({ executionId: execution.id, userId: "owner", body: null });
    expect(await store.freezeBody(id, '{"first":1}')).toBe('{"first":1}');
    expect(await store.freezeBody(id, '{"second":2}')).toBe('{"first":1}');
    expect(await store.listPending(0, 10)).toContain(id);
    const attempt = { attemptedAt: new Date(), statusCode: 500, error: "HTTP 500", durationMs: 3 };
    await store.recordAttempt(id, { ...attempt, outcome: "failed" }, null);
    await store.recordAttempt(
      id,
      { ...attempt, outcome: "delivered", statusCode: 200, error: null },
      "delivered",
    );
    await store.recordAttempt(id, { ...attempt, outcome: "failed" }, "failed");
    const [listed] = await store.listForExecution(execution.id);
    expect(listed).toMatchObject({ status: "delivered", attempts: 2, lastError: null });
    expect(listed?.attemptList.map((row) => row.outcome)).toEqual(["failed", "delivered", "failed"]);
    expect(await store.listPending(0, 10)).not.toContain(id);
  });
});
