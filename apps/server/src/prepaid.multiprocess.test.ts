import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, type Instance, startHarness } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";

/**
 * No overdraft across API instances: 200 concurrent priced executes split over two instances (each
 * with its own engine, pools and ledger pool) on one database, against a balance that covers 137.
 */
describe.runIf(process.env.DATABASE_URL)("prepaid mode on two instances", () => {
  let h: Harness;
  let second: Instance;
  const env = { SPELL_BILLING: "local", SPELL_BILLING_MODE: "prepaid" };
  beforeAll(async () => {
    h = await startHarness({ env });
    second = await h.startInstance(env);
    await h.publish({
      slug: "cent@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "public",
      priceAmount: 1,
      currency: "usd",
      metadata: {},
    });
  }, 60_000);
  afterAll(() => h?.close());

  it("lets exactly 137 of 200 succeed; the balance ends at 0, never below", async () => {
    const user = await h.user("racer");
    await h.call("POST", "/api/billing/local/attach", {
      token: user.token,
      body: { paymentMethod: "pm_card_visa" },
    });
    const topUp = await h.call("POST", "/api/billing/top-up", {
      token: user.token,
      body: { amount: 137, idempotencyKey: randomUUID() },
    });
    expect(topUp.body).toMatchObject({ credited: true, balance: 137 * 10_000 });

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
