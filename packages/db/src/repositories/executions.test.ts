import type { SpellRecord, StoredOutcome } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
let spell: SpellRecord;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  spell = await t.database.spells.publish(publishRequest({ slug: "exec@v1" }));
  await t.database.users.ensureUser("runner");
});
afterAll(() => t?.drop());

const succeeded: StoredOutcome = {
  kind: "succeeded",
  spell: { slug: "exec@v1", runtime: "builtin" },
  output: { ok: [1, 2] },
  durationMs: 12,
  billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
};
const failed: StoredOutcome = {
  kind: "failed",
  error: { code: "RUNTIME_TIMEOUT", message: "too slow", details: { limitMs: 10 } },
};

describe("executions", () => {
  it("begin records a running execution with the spell's current artifact; finish stores the outcome", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id, slug: spell.slug });
    expect(await t.database.executions.begin(execution)).toEqual({ kind: "started" });
    expect(await t.database.executions.get(execution.id)).toMatchObject({ status: "running", outcome: null });

    await t.database.executions.finish(execution.id, succeeded, new Date());
    expect(await t.database.executions.get(execution.id)).toEqual({
      id: execution.id,
      userId: "runner",
      spellId: spell.id,
      slug: spell.slug,
      requestHash: "hash",
      status: "succeeded",
      outcome: succeeded,
    });
    const row = await t.database.prisma.execution.findUniqueOrThrow({ where: { id: execution.id } });
    expect(row).toMatchObject({ artifactId: spell.artifact.id, durationMs: 12, errorCode: null });
    expect(row.finishedAt).toBeInstanceOf(Date);
  });

  it("finish with a failure keeps the error code", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id });
    await t.database.executions.begin(execution);
    await t.database.executions.finish(execution.id, failed, new Date());
    const row = await t.database.prisma.execution.findUniqueOrThrow({ where: { id: execution.id } });
    expect(row).toMatchObject({ status: "failed", errorCode: "RUNTIME_TIMEOUT", outcome: failed });
  });

  it("record writes a finished execution in one statement", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id });
    await t.database.executions.record(execution, failed, new Date());
    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "failed",
      outcome: failed,
    });
  });

  it("record groups concurrent calls and stores every row with its artifact, outcome and log", async () => {
    const executions = Array.from({ length: 30 }, () =>
      newExecution({ userId: "runner", spellId: spell.id }),
    );
    await Promise.all(
      executions.map((execution, index) =>
        t.database.executions.record(execution, index % 2 ? failed : succeeded, new Date(), `log ${index}`),
      ),
    );
    const rows = await t.database.prisma.execution.findMany({
      where: { id: { in: executions.map((execution) => execution.id) } },
    });
    expect(rows).toHaveLength(30);
    for (const row of rows) {
      const index = executions.findIndex((execution) => execution.id === row.id);
      expect(row).toMatchObject({
        artifactId: spell.artifact.id,
        status: index % 2 ? "failed" : "succeeded",
        log: `log ${index}`,
      });
    }
  });

  it("finish keeps the runtime's log", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id });
    await t.database.executions.begin(execution);
    await t.database.executions.finish(execution.id, failed, new Date(), "stderr tail");
    const row = await t.database.prisma.execution.findUnique({ where: { id: execution.id } });
    expect(row?.log).toBe("stderr tail");
  });

  it("reopens a charge failure marked retryable exactly once, and nothing else", async () => {
    const retryable: StoredOutcome = {
      kind: "failed",
      error: { code: "SERVICE_UNAVAILABLE", message: "unreachable", details: { retryable: true } },
    };
    const execution = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-retry" });
    await t.database.executions.begin(execution);
    await t.database.executions.finish(execution.id, retryable, new Date());
    const reopened = await Promise.all(
      [1, 2, 3].map(() => t.database.executions.reopenForRetry(execution.id, 60_000)),
    );
    expect(reopened.filter(Boolean)).toHaveLength(1);
    expect(await t.database.executions.get(execution.id)).toMatchObject({ status: "running", outcome: null });

    const final = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-final" });
    await t.database.executions.begin(final);
    await t.database.executions.finish(final.id, failed, new Date());
    expect(await t.database.executions.reopenForRetry(final.id, 60_000)).toBe(false);
  });

  it("lets a retry take over a running execution only once its attempt is stale", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-crashed" });
    await t.database.executions.begin(execution);
    expect(await t.database.executions.reopenForRetry(execution.id, 60_000)).toBe(false);
    // The process that began it died ten minutes ago.
    await t.database.prisma.execution.update({
      where: { id: execution.id },
      data: { attemptedAt: new Date(Date.now() - 10 * 60_000) },
    });
    const takeovers = await Promise.all(
      [1, 2, 3].map(() => t.database.executions.reopenForRetry(execution.id, 60_000)),
    );
    expect(takeovers.filter(Boolean)).toHaveLength(1);
    // The takeover is a fresh attempt: not stale again straight away.
    expect(await t.database.executions.reopenForRetry(execution.id, 60_000)).toBe(false);
  });

  it("begin with a reused key answers the stored execution", async () => {
    const original = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-replay" });
    expect(await t.database.executions.begin(original)).toEqual({ kind: "started" });
    await t.database.executions.finish(original.id, succeeded, new Date());
    const replay = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-replay" });
    expect(await t.database.executions.begin(replay)).toEqual({
      kind: "existing",
      execution: expect.objectContaining({ id: original.id, status: "succeeded", outcome: succeeded }),
    });
  });

  it("the same key from another user is another execution", async () => {
    await t.database.users.ensureUser("other-runner");
    const mine = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-shared" });
    const theirs = newExecution({ userId: "other-runner", spellId: spell.id, idempotencyKey: "key-shared" });
    expect(await t.database.executions.begin(mine)).toEqual({ kind: "started" });
    expect(await t.database.executions.begin(theirs)).toEqual({ kind: "started" });
  });

  it("20 concurrent begins with one key: exactly one is started, the others see that execution", async () => {
    const attempts = Array.from({ length: 20 }, () =>
      newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-race" }),
    );
    const results = await Promise.all(attempts.map((attempt) => t.database.executions.begin(attempt)));
    const started = results.filter((result) => result.kind === "started");
    expect(started).toHaveLength(1);
    const winner = attempts[results.findIndex((result) => result.kind === "started")];
    for (const result of results) {
      if (result.kind === "existing") expect(result.execution.id).toBe(winner?.id);
    }
  });

  it("pending payment keeps the input and the 402; one claim wins and moves it back to running", async () => {
    const execution = newExecution({ userId: "runner", spellId: spell.id, idempotencyKey: "key-3ds" });
    await t.database.executions.begin(execution);
    const error = {
      code: "PAYMENT_REQUIRES_ACTION" as const,
      message: "3-D Secure",
      details: { clientSecret: "x" },
    };
    await t.database.executions.markPendingPayment(execution.id, { input: { text: "hi" }, error });
    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "pending_payment",
      outcome: { kind: "failed", error },
    });

    const claims = await Promise.all(
      [1, 2, 3].map(() => t.database.executions.claimPendingPayment(execution.id)),
    );
    expect(claims.filter((claim) => claim !== null)).toEqual([{ input: { text: "hi" } }]);
    expect(await t.database.executions.get(execution.id)).toMatchObject({ status: "running", outcome: null });
    expect(await t.database.executions.claimPendingPayment(execution.id)).toBeNull();
  });

  it("get answers null for unknown or malformed ids", async () => {
    expect(await t.database.executions.get("00000000-0000-4000-8000-000000000000")).toBeNull();
    expect(await t.database.executions.get("exe_nope")).toBeNull();
  });
});
