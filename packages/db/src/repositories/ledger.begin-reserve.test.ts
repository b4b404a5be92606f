import { randomUUID } from "node:crypto";
import type { NewExecution, SpellRecord } from "@spell/engine";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Sql } from "../sql.ts";
import {
  createTestDatabase,
  ledgerReserveCharge,
  newExecution,
  pendingSuccess,
  publishRequest,
  type TestDatabase,
} from "../testing/index.ts";
import { createBillingStore } from "./billing.ts";
import { createExecutionLog } from "./executions.ts";
import { createLedgerStore } from "./ledger.ts";

let t: TestDatabase;
let spell: SpellRecord;
let pool: pg.Pool;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL, poolSize: 8 });
  spell = await t.database.spells.publish(publishRequest({ slug: "begin-reserve@v1" }));
  pool = new pg.Pool({ connectionString: t.url, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await t?.drop();
});
afterEach(async () => {
  expect(await t.database.ledger.reconcile()).toEqual([]);
});

const DAY = "2026-12-15";
const MONTH = "2026-12-01";
const succeeded = pendingSuccess("begin-reserve@v1");

const priced = (userId: string): NewExecution =>
  newExecution({ userId, spellId: spell.id, slug: spell.slug, price: { amount: 1, currency: "usd" } });
const beginReserveOf = (execution: NewExecution, amount: number) => ({
  userId: execution.userId,
  currency: "usd",
  amount,
  executionId: execution.id,
  description: spell.slug,
  day: DAY,
  month: MONTH,
  execution,
});
const topUp = (userId: string, amount: number) =>
  t.database.ledger.creditTopUp({
    userId,
    currency: "usd",
    amount,
    paymentIntentId: `pi_${randomUUID()}`,
    description: "top-up",
  });
const rowsOf = async (userId: string) =>
  (await pool.query("SELECT id, status, request_hash, amount FROM executions WHERE user_id = $1", [userId]))
    .rows;
const kindsOf = async (userId: string) =>
  (await t.database.ledger.entries(userId, 100)).map((entry) => entry.kind).sort();

/**
 * The repositories over one connection inside an open transaction (the test hook): what a statement
 * set for its own transaction can be read back before it ends, then everything is rolled back.
 */
async function inOpenTransaction<T>(work: (sql: Sql) => Promise<T>) {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await work({ pool: client as unknown as pg.Pool, prepared: false });
    const setting = (await client.query("SELECT current_setting('synchronous_commit') AS value")).rows[0]
      .value as string;
    return { result, setting };
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

describe("begin and reserve in one statement (prepaid, no idempotency key)", () => {
  it("writes the running execution and its reserve together", async () => {
    await topUp("folded", 10_000);
    const execution = priced("folded");
    const result = await t.database.ledger.beginReserve(beginReserveOf(execution, 4_000));
    expect(result).toMatchObject({ kind: "reserved", autoReloadDue: false });
    if (result.kind !== "reserved") throw new Error("not reserved");
    expect(result.entry).toMatchObject({ kind: "reserve", amount: -4_000, executionId: execution.id });
    expect(await t.database.executions.get(execution.id)).toMatchObject({
      status: "running",
      spellId: spell.id,
      slug: spell.slug,
      outcome: null,
    });
    const [row] = await rowsOf("folded");
    expect(row).toMatchObject({ amount: 1, request_hash: execution.requestHash });
    expect((await t.database.ledger.account("folded", "usd", DAY, MONTH)).balance).toBe(6_000);
    // The finish then debits it in the answer's statement, as after a separate begin and reserve.
    const charge = ledgerReserveCharge(result.entry.id);
    expect(
      await t.database.executions.finish(execution.id, succeeded, new Date(), null, {
        action: "capture",
        charge,
      }),
    ).toEqual({ settled: true });
    expect(await kindsOf("folded")).toEqual(["debit", "reserve", "top_up"]);
  });

  it("commits asynchronously: the statement turns synchronous_commit off for its own transaction", async () => {
    await topUp("async-commit", 10_000);
    const folded = await inOpenTransaction((sql) =>
      createLedgerStore(sql).beginReserve(beginReserveOf(priced("async-commit"), 1_000)),
    );
    expect(folded.result.kind).toBe("reserved");
    expect(folded.setting).toBe("off");
    // The keyed path's reserve (and the finish) keep the server's synchronous commit.
    const reserve = await inOpenTransaction((sql) =>
      createLedgerStore(sql).reserve({ ...beginReserveOf(priced("async-commit"), 1_000) }),
    );
    expect(reserve.result.kind).toBe("reserved");
    expect(reserve.setting).toBe("on");
  });

  it("refuses without writing anything when the balance is short or a cap is reached", async () => {
    await topUp("short", 3_000);
    const refused = await t.database.ledger.beginReserve(beginReserveOf(priced("short"), 4_000));
    expect(refused).toEqual({ kind: "insufficient", balance: 3_000 });
    await t.database.ledger.setLimits("short", "usd", "user", { daily: 1_000 });
    expect(await t.database.ledger.beginReserve(beginReserveOf(priced("short"), 2_000))).toEqual({
      kind: "limit",
      window: "day",
      limit: 1_000,
      spent: 0,
    });
    expect(await t.database.ledger.beginReserve(beginReserveOf(priced("nobody"), 1))).toEqual({
      kind: "insufficient",
      balance: 0,
    });
    expect(await rowsOf("short")).toEqual([]);
    expect(await rowsOf("nobody")).toEqual([]);
    expect(await kindsOf("short")).toEqual(["top_up"]);
  });

  it("never overdraws under concurrency: as many rows and reserves as the balance covers", async () => {
    await topUp("racer", 37 * 500);
    const results = await Promise.all(
      Array.from({ length: 100 }, () => t.database.ledger.beginReserve(beginReserveOf(priced("racer"), 500))),
    );
    expect(results.filter((result) => result.kind === "reserved")).toHaveLength(37);
    expect(results.filter((result) => result.kind === "insufficient")).toHaveLength(63);
    expect((await t.database.ledger.account("racer", "usd", DAY, MONTH)).balance).toBe(0);
    expect(await rowsOf("racer")).toHaveLength(37);
    expect((await kindsOf("racer")).filter((kind) => kind === "reserve")).toHaveLength(37);
  });

  it("is only for executions without an idempotency key", async () => {
    const keyed = { ...priced("keyed"), idempotencyKey: "k1" };
    await expect(t.database.ledger.beginReserve(beginReserveOf(keyed, 1))).rejects.toThrow(/idempotency key/);
  });

  it("a finish whose begin and reserve a crash lost writes nothing and says the execution is lost", async () => {
    await topUp("lost", 10_000);
    const execution = priced("lost");
    // Committed asynchronously, then lost whole by a database crash: here, rolled back.
    const { result } = await inOpenTransaction((sql) =>
      createLedgerStore(sql).beginReserve(beginReserveOf(execution, 4_000)),
    );
    if (result.kind !== "reserved") throw new Error("not reserved");
    const charge = ledgerReserveCharge(result.entry.id);
    await expect(
      t.database.executions.finish(execution.id, succeeded, new Date(), null, { action: "capture", charge }),
    ).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { reason: "execution_lost" } });
    const settlements = await pool.query("SELECT 1 FROM settlements WHERE payment_intent_id = $1", [
      charge.paymentIntentId,
    ]);
    expect(settlements.rows).toEqual([]);
    expect(await kindsOf("lost")).toEqual(["top_up"]);
    expect((await t.database.ledger.account("lost", "usd", DAY, MONTH)).balance).toBe(10_000);
  });
});

describe("begin of a priced execution without a key (per use)", () => {
  it("commits asynchronously when asked, synchronously otherwise", async () => {
    await t.database.users.ensureUser("per-use");
    const asked = await inOpenTransaction((sql) =>
      createExecutionLog(sql).begin(priced("per-use"), { asynchronousCommit: true }),
    );
    expect(asked).toEqual({ result: { kind: "started" }, setting: "off" });
    const plain = await inOpenTransaction((sql) => createExecutionLog(sql).begin(priced("per-use")));
    expect(plain).toEqual({ result: { kind: "started" }, setting: "on" });
    // A keyed begin is arbitrated by the unique index and must stay durable before any charge.
    const keyed = await inOpenTransaction((sql) =>
      createExecutionLog(sql).begin(
        { ...priced("per-use"), idempotencyKey: "k" },
        { asynchronousCommit: true },
      ),
    );
    expect(keyed).toEqual({ result: { kind: "started" }, setting: "on" });
    // The embedded server's log never asks for it.
    const embedded = await inOpenTransaction((sql) =>
      createExecutionLog(sql, sql, { asyncBegin: false }).begin(priced("per-use"), {
        asynchronousCommit: true,
      }),
    );
    expect(embedded.setting).toBe("on");
  });

  it("a billing record for an execution a crash lost is refused as SERVICE_UNAVAILABLE (execution_lost)", async () => {
    await t.database.users.ensureUser("per-use-lost");
    const execution = priced("per-use-lost");
    await inOpenTransaction((sql) => createExecutionLog(sql).begin(execution, { asynchronousCommit: true }));
    const record = {
      userId: "per-use-lost",
      spellId: spell.id,
      executionId: execution.id,
      amount: 50,
      currency: "usd",
      paymentIntentId: `pi_${randomUUID()}`,
      status: "pending" as const,
      failureCode: null,
    };
    await expect(createBillingStore({ pool, prepared: false }).createRecord(record)).rejects.toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      details: { reason: "execution_lost", executionId: execution.id, retryable: true },
    });
    // With its row there the same record is stored.
    await t.database.executions.begin(execution, { asynchronousCommit: true });
    await expect(t.database.billing.createRecord(record)).resolves.toMatchObject({
      executionId: execution.id,
    });
  });
});
