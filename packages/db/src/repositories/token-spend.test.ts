import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../testing/index.ts";
import { type LedgerDatabase, openLedgerDatabase } from "./ledger.ts";
import type { TokenSpendStore } from "./token-spend.ts";

const reserveOf = (tokenKey: string, amount: number, cap: number, executionId = randomUUID()) => ({
  tokenKey,
  userId: "u",
  currency: "usd",
  cap,
  amount,
  executionId,
  expiresAt: null,
});

describe.runIf(process.env.DATABASE_URL)("token spend store", () => {
  let t: TestDatabase;
  let db: LedgerDatabase;
  let store: TokenSpendStore;
  beforeAll(async () => {
    t = await createTestDatabase({ url: process.env.DATABASE_URL, poolSize: 8 });
    db = openLedgerDatabase({ url: t.url });
    store = db.tokenSpend;
  });
  afterAll(async () => {
    await db?.close();
    await t?.drop();
  });

  it("admits exactly what the cap holds under concurrency", async () => {
    const key = `tok:${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 25 }, () => store.reserve(reserveOf(key, 10_000, 70_000))),
    );
    expect(results.filter((result) => result.kind === "reserved")).toHaveLength(7);
    expect(await store.spent(key)).toBe(70_000);
  });

  it("releases once by execution or by charge, and a retried execution counts once", async () => {
    const key = `tok:${randomUUID()}`;
    const executionId = randomUUID();
    expect(await store.reserve(reserveOf(key, 10_000, 10_000, executionId))).toEqual({
      kind: "reserved",
      spent: 10_000,
    });
    expect((await store.reserve(reserveOf(key, 10_000, 10_000, executionId))).kind).toBe("reserved");
    expect((await store.reserve(reserveOf(key, 10_000, 10_000))).kind).toBe("limit");
    await store.attach(executionId, "pi_1");
    expect(await store.release({ chargeId: "pi_1" })).toBe(true);
    expect(await store.release({ executionId })).toBe(false);
    expect(await store.spent(key)).toBe(0);
  });

  it("does not answer reserved for an execution whose share was released or is on another token", async () => {
    const key = `tok:${randomUUID()}`;
    const executionId = randomUUID();
    expect((await store.reserve(reserveOf(key, 10_000, 30_000, executionId))).kind).toBe("reserved");
    expect((await store.reserve(reserveOf(`tok:${randomUUID()}`, 10_000, 30_000, executionId))).kind).toBe(
      "limit",
    );
    expect(await store.release({ executionId })).toBe(true);
    // Room left under the cap: the retry's upsert would pass, only its charge row collides.
    expect(await store.reserve(reserveOf(key, 10_000, 30_000, executionId))).toEqual({
      kind: "limit",
      spent: 0,
    });
    expect(await store.spent(key)).toBe(0);
  });

  it("refuses a first charge above the cap without creating a spend", async () => {
    const key = `tok:${randomUUID()}`;
    expect(await store.reserve(reserveOf(key, 20_000, 10_000))).toEqual({ kind: "limit", spent: 0 });
  });
});
