import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL, poolSize: 8 });
});
afterAll(() => t?.drop());
// Reconcile: the entries of every user sum to the balance, after every test.
afterEach(async () => {
  expect(await t.database.ledger.reconcile()).toEqual([]);
});

const DAY = "2026-12-15";
const MONTH = "2026-12-01";
const reserveOf = (userId: string, amount: number, executionId = randomUUID()) => ({
  userId,
  currency: "usd",
  amount,
  executionId,
  description: "echo@v1",
  day: DAY,
  month: MONTH,
});
const topUp = (userId: string, amount: number, paymentIntentId = `pi_${randomUUID()}`) =>
  t.database.ledger.creditTopUp({ userId, currency: "usd", amount, paymentIntentId, description: "top-up" });

describe("ledger store", () => {
  it("refuses a reserve without a balance and says how much there is", async () => {
    expect(await t.database.ledger.reserve(reserveOf("nobody", 500))).toEqual({
      kind: "insufficient",
      balance: 0,
    });
  });

  it("credits a top-up once per PaymentIntent, however often it is confirmed", async () => {
    const credits = await Promise.all([1, 2, 3].map(() => topUp("payer", 5_000_000, "pi_once")));
    expect(credits.filter((credit) => credit.credited)).toHaveLength(1);
    const account = await t.database.ledger.account("payer", "usd", DAY, MONTH);
    expect(account.balance).toBe(5_000_000);
    const entries = await t.database.ledger.entries("payer", 10);
    expect(entries.filter((entry) => entry.kind === "top_up")).toHaveLength(1);
  });

  it("never overdraws under concurrency: exactly as many reserves as the balance covers", async () => {
    await topUp("racer", 137 * 500);
    const results = await Promise.all(
      Array.from({ length: 200 }, () => t.database.ledger.reserve(reserveOf("racer", 500))),
    );
    expect(results.filter((result) => result.kind === "reserved")).toHaveLength(137);
    expect((await t.database.ledger.account("racer", "usd", DAY, MONTH)).balance).toBe(0);
  });

  it("reserves once per execution and settles a reserve once (debit or release)", async () => {
    await topUp("settler", 10_000);
    const executionId = randomUUID();
    const first = await t.database.ledger.reserve(reserveOf("settler", 4_000, executionId));
    const again = await t.database.ledger.reserve(reserveOf("settler", 4_000, executionId));
    if (first.kind !== "reserved" || again.kind !== "reserved") throw new Error("not reserved");
    expect(again.entry.id).toBe(first.entry.id);
    const key = `prepaid:${first.entry.id}`;
    const outcomes = await Promise.all([
      t.database.ledger.settleReserve(first.entry.id, "release", key),
      t.database.ledger.settleReserve(first.entry.id, "debit", key),
    ]);
    expect(outcomes.sort()).toEqual(["already", "settled"]);
    const balance = (await t.database.ledger.account("settler", "usd", DAY, MONTH)).balance;
    expect([6_000, 10_000]).toContain(balance);
    expect(await t.database.ledger.settleReserve(randomUUID(), "debit", "prepaid:x")).toBe("unknown");
  });

  it("a retry of an execution whose reserve was released is refused, not run unpaid", async () => {
    await topUp("taken-over", 10_000);
    const executionId = randomUUID();
    const first = await t.database.ledger.reserve(reserveOf("taken-over", 4_000, executionId));
    if (first.kind !== "reserved") throw new Error("not reserved");
    await t.database.ledger.settleReserve(first.entry.id, "release", `prepaid:${first.entry.id}`);
    const retry = await t.database.ledger.reserve(reserveOf("taken-over", 4_000, executionId));
    expect(retry).toMatchObject({ kind: "settled", entry: { id: first.entry.id } });
    expect((await t.database.ledger.account("taken-over", "usd", DAY, MONTH)).balance).toBe(10_000);
  });

  it("a release gives the money back and takes it off the day's spend", async () => {
    await topUp("releaser", 10_000);
    const today = new Date().toISOString().slice(0, 10);
    const month = `${today.slice(0, 7)}-01`;
    const reserved = await t.database.ledger.reserve({ ...reserveOf("releaser", 3_000), day: today, month });
    if (reserved.kind !== "reserved") throw new Error("not reserved");
    expect((await t.database.ledger.account("releaser", "usd", today, month)).daySpent).toBe(3_000);
    await t.database.ledger.settleReserve(reserved.entry.id, "release", `prepaid:${reserved.entry.id}`);
    const account = await t.database.ledger.account("releaser", "usd", today, month);
    expect(account).toMatchObject({ balance: 10_000, daySpent: 0, monthSpent: 0 });
  });

  it("enforces the lower of the admin's and the user's daily cap, and the monthly cap", async () => {
    await topUp("capped", 100_000);
    await t.database.ledger.setLimits("capped", "usd", "admin", { daily: 5_000, monthly: 7_000 });
    await t.database.ledger.setLimits("capped", "usd", "user", { daily: 3_000 });
    expect((await t.database.ledger.reserve(reserveOf("capped", 2_000))).kind).toBe("reserved");
    expect(await t.database.ledger.reserve(reserveOf("capped", 2_000))).toEqual({
      kind: "limit",
      window: "day",
      limit: 3_000,
      spent: 2_000,
    });
    // A new day: the daily counter starts again, the month's does not.
    const tomorrow = { day: "2026-12-16" };
    expect((await t.database.ledger.reserve({ ...reserveOf("capped", 3_000), ...tomorrow })).kind).toBe(
      "reserved",
    );
    expect(await t.database.ledger.reserve({ ...reserveOf("capped", 2_500), day: "2026-12-17" })).toEqual({
      kind: "limit",
      window: "month",
      limit: 7_000,
      spent: 5_000,
    });
  });

  it("claims one auto-reload below the threshold, within the monthly cap", async () => {
    await topUp("reloader", 1_000);
    await t.database.ledger.setAutoReload("reloader", "usd", {
      threshold: 5_000,
      amount: 500,
      monthlyCap: 900,
    });
    const claims = await Promise.all(
      [1, 2].map(() => t.database.ledger.claimAutoReload("reloader", "usd", MONTH)),
    );
    expect(claims.filter(Boolean)).toEqual([{ amount: 500, key: expect.stringMatching(/^2026-12-01:\d+$/) }]);
    await t.database.ledger.finishAutoReload("reloader", "usd");
    // A second reload would pass the monthly cap (500 + 500 > 900).
    expect(await t.database.ledger.claimAutoReload("reloader", "usd", MONTH)).toBeNull();
  });

  it("a failed reload gives the month's total back, records why, and backs off", async () => {
    await topUp("declined", 1_000);
    await t.database.ledger.setAutoReload("declined", "usd", {
      threshold: 5_000,
      amount: 500,
      monthlyCap: 500,
    });
    const claim = await t.database.ledger.claimAutoReload("declined", "usd", MONTH);
    expect(claim).not.toBeNull();
    await t.database.ledger.finishAutoReload("declined", "usd", { code: "BILLING_FAILED", amount: 500 });
    const account = await t.database.ledger.account("declined", "usd", DAY, MONTH);
    expect(account.autoReloadMonthTotal).toBe(0);
    expect(account.autoReloadFailure).toMatchObject({ code: "BILLING_FAILED", at: expect.any(Date) });
    // Within the in-flight window the card is not tried again.
    expect(await t.database.ledger.claimAutoReload("declined", "usd", MONTH)).toBeNull();
    await t.database.prisma.$executeRawUnsafe(
      "UPDATE ledger_balances SET auto_reload_started_at = now() - interval '6 minutes' WHERE user_id = 'declined'",
    );
    const retry = await t.database.ledger.claimAutoReload("declined", "usd", MONTH);
    expect(retry?.key).not.toBe(claim?.key);
    await t.database.ledger.finishAutoReload("declined", "usd");
    expect((await t.database.ledger.account("declined", "usd", DAY, MONTH)).autoReloadFailure).toBeNull();
  });

  it("sweeps reserves whose process died before the answer was stored", async () => {
    await topUp("orphan", 10_000);
    const reserved = await t.database.ledger.reserve(reserveOf("orphan", 2_500));
    expect(reserved.kind).toBe("reserved");
    expect(await t.database.ledger.sweep(60_000)).toBe(0);
    // The reserve must be strictly older than the sweep's cutoff (`now() - 0`), not in the same tick.
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A sweep settles at most 100 rows; earlier tests in this database left orphans of their own, so
    // sweep until nothing is left, as the periodic sweep would over its next rounds.
    let swept = 0;
    for (let round = 0, last = -1; round < 50 && last !== 0; round++) {
      last = await t.database.ledger.sweep(0);
      swept += last;
    }
    expect(swept).toBeGreaterThanOrEqual(1);
    expect((await t.database.ledger.account("orphan", "usd", DAY, MONTH)).balance).toBe(10_000);
  });
});
