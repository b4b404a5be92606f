import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Harness, Instance } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { fundedUser, LOCAL_PREPAID_ENV, startLocalPrepaidHarness } from "./testutil/prepaid.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * No overdraft across API instances: 200 concurrent priced executes split over two instances (each
 * with its own engine, pools and ledger pool) on one database, against a balance that covers 137.
 */
describe.runIf(process.env.DATABASE_URL)("prepaid mode on two instances", () => {
  let h: Harness;
  let second: Instance;
  beforeAll(async () => {
    h = await startLocalPrepaidHarness([pricedSpell("cent@v1", 1)]);
    second = await h.startInstance(LOCAL_PREPAID_ENV);
  }, 60_000);
  afterAll(() => h?.close());

  it("lets exactly 137 of 200 succeed; the balance ends at 0, never below", async () => {
    const user = await fundedUser(h, 137, "racer");

    const urls = [h.url, second.url];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(urls[i % 2] as string, "POST", "/api/spell/execute", {
          token: user.token,
          body: { spell: "cent@v1", input: { i } },
        }),
      ),
    );
    const ok = results.filter((result) => result.status === 200);
    const refused = results.filter((result) => result.status === 402);
    expect(ok).toHaveLength(137);
    expect(refused).toHaveLength(63);
    for (const result of refused) expect(result.body.error.code).toBe("INSUFFICIENT_BALANCE");
    // Both instances served successes.
    const balance = await h.call("GET", "/api/billing/balance", { token: user.token });
    expect(balance.body.account.balance).toBe(0);
    const entries = await h.testDb.database.ledger.entries(user.id, 1000);
    expect(entries.filter((entry) => entry.kind === "reserve")).toHaveLength(137);
    expect(entries.filter((entry) => entry.kind === "debit")).toHaveLength(137);
    expect(entries.every((entry) => entry.balanceAfter >= 0)).toBe(true);
    await reconcileLedger(h.testDb.database);
  }, 120_000);
});
