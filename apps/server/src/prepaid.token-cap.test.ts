import { randomUUID } from "node:crypto";
import { createNoBilling, type PrepaidBilling } from "@spell/billing";
import type { TokenSpendCap } from "@spell/contracts";
import type { Billing, ChargeRequest } from "@spell/engine";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { withTokenSpendCaps } from "./compose-billing.ts";
import { type Caller, type Harness, startHarness } from "./testutil/harness.ts";
import { attachLocalCard, fundedUser, startLocalPrepaidHarness } from "./testutil/prepaid.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/**
 * The per-token spend cap (`spell:max_spend`) as the composed billing enforces it, on the real
 * ledger and token-spend tables: what execute's step 6 calls with the caller's verified claim.
 */
const capOf = (amount: number, key = `tok:${randomUUID()}`): TokenSpendCap => ({
  amount,
  currency: "usd",
  key,
  expiresAt: new Date(Date.now() + 600_000).toISOString(),
});

/** Charge requests as step 6 makes them, each for a fresh `running` execution row. */
async function chargeRequest(h: Harness, caller: Caller, slug: string, maxSpend: TokenSpendCap) {
  const { user, lookup } = await h.testDb.database.users.ensureUserWithSpell(caller.id, slug);
  if (!lookup) throw new Error(`no spell ${slug}`);
  const { spell } = lookup;
  return async (): Promise<ChargeRequest & { maxSpend: TokenSpendCap }> => {
    const executionId = randomUUID();
    await h.testDb.database.executions.begin({
      id: executionId,
      userId: user.id,
      spellId: spell.id,
      slug: spell.slug,
      runtime: spell.runtime,
      price: spell.price,
      idempotencyKey: null,
      requestHash: "",
    });
    return { executionId, user, spell, price: { ...spell.price }, maxSpend };
  };
}

describe.runIf(process.env.DATABASE_URL)("per-token spend cap, prepaid mode", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startLocalPrepaidHarness([
      pricedSpell("cent@v1", 1),
      pricedSpell("tiny@v1", 1, { metadata: { priceMicros: 2_500 } }),
      pricedSpell("euro@v1", 1, { currency: "eur" }),
    ]);
  }, 60_000);
  afterAll(() => h?.close());
  afterEach(() => reconcileLedger(h.testDb.database));

  const billing = () => h.billing.billing as PrepaidBilling & Billing;

  const funded = (cents: number) => fundedUser(h, cents, "capped");

  it("lets exactly the cap through under concurrency, then refuses with SPEND_LIMIT_REACHED (token)", async () => {
    const user = await funded(100);
    const cap = capOf(7);
    const next = await chargeRequest(h, user, "cent@v1", cap);
    const requests = await Promise.all(Array.from({ length: 30 }, () => next()));
    const results = await Promise.allSettled(requests.map((request) => billing().charge(request)));
    const charged = results.filter((result) => result.status === "fulfilled");
    expect(charged).toHaveLength(7);
    for (const result of results) {
      if (result.status === "rejected") {
        expect(result.reason).toMatchObject({
          code: "SPEND_LIMIT_REACHED",
          details: {
            limit: "token",
            scope: "token",
            max: 7,
            spent: 7,
            price: 1,
            currency: "usd",
            resetsAt: null,
            expiresAt: cap.expiresAt,
          },
        });
      }
    }
    // The balance paid for the seven only: the refused ones never reached the ledger.
    const account = await h.call("GET", "/api/billing/balance", { token: user.token });
    expect(account.body.account.balance).toBe(93 * 10_000);
  });

  it("gives a failed run's share back to the token, once", async () => {
    const user = await funded(100);
    const next = await chargeRequest(h, user, "cent@v1", capOf(2));
    const first = await billing().charge(await next());
    await billing().charge(await next());
    await expect(billing().charge(await next())).rejects.toMatchObject({ code: "SPEND_LIMIT_REACHED" });
    await billing().settle(first, "failed");
    await billing().settle(first, "failed");
    await billing().charge(await next());
    await expect(billing().charge(await next())).rejects.toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { spent: 2 },
    });
  });

  it("counts sub-cent prices in micros against a fractional cap", async () => {
    const user = await funded(100);
    // 0.25¢ a call, a cap of 0.6¢: two calls (0.5¢), not a third (0.75¢).
    const next = await chargeRequest(h, user, "tiny@v1", capOf(0.6));
    await billing().charge(await next());
    await billing().charge(await next());
    await expect(billing().charge(await next())).rejects.toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { max: 0.6, spent: 0.5, price: 0.25 },
    });
  });

  it("shares one allowance between tokens with the same key, and a cap of 0 pays for nothing", async () => {
    const user = await funded(100);
    const key = `jti:${randomUUID()}`;
    const a = await chargeRequest(h, user, "cent@v1", capOf(1, key));
    const b = await chargeRequest(h, user, "cent@v1", capOf(1, key));
    await billing().charge(await a());
    await expect(billing().charge(await b())).rejects.toMatchObject({ code: "SPEND_LIMIT_REACHED" });
    const zero = await chargeRequest(h, user, "cent@v1", capOf(0));
    await expect(billing().charge(await zero())).rejects.toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { max: 0, spent: 0 },
    });
  });

  it("refuses a spell priced in another currency than the token's cap", async () => {
    const user = await funded(100);
    const next = await chargeRequest(h, user, "euro@v1", capOf(100));
    await expect(billing().charge(await next())).rejects.toMatchObject({
      code: "SPEND_LIMIT_REACHED",
      details: { reason: "currency", currency: "usd", priceCurrency: "eur" },
    });
  });

  it("gives the share back when the ledger refuses (no balance), and a retry of one execution counts once", async () => {
    const user = await h.user("broke");
    const next = await chargeRequest(h, user, "cent@v1", capOf(1));
    await expect(billing().charge(await next())).rejects.toMatchObject({ code: "INSUFFICIENT_BALANCE" });
    const funded2 = await funded(100);
    const again = await chargeRequest(h, funded2, "cent@v1", capOf(1));
    const request = await again();
    const first = await billing().charge(request);
    const retry = await billing().charge(request);
    expect(retry.billingRecordId).toBe(first.billingRecordId);
  });

  it("leaves uncapped charges alone", async () => {
    const user = await funded(100);
    const { user: record, lookup } = await h.testDb.database.users.ensureUserWithSpell(user.id, "cent@v1");
    if (!lookup) throw new Error("no spell");
    for (let i = 0; i < 3; i++) {
      await billing().charge({
        executionId: randomUUID(),
        user: record,
        spell: lookup.spell,
        price: lookup.spell.price,
      });
    }
    const account = await h.call("GET", "/api/billing/balance", { token: user.token });
    expect(account.body.account.balance).toBe(97 * 10_000);
  });
});

describe.runIf(process.env.DATABASE_URL)("per-token spend cap, per-use (card) mode", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { SPELL_BILLING: "local" } });
  }, 60_000);
  afterAll(() => h?.close());

  it("caps what the token's card charges add up to; a failed run's charge goes back", async () => {
    const user = await h.user("card");
    await attachLocalCard(h, user);
    const billing = h.billing.billing;
    // echo-paid@v1 costs 50¢: a cap of 120¢ admits two authorizations, not a third.
    const next = await chargeRequest(h, user, "echo-paid@v1", capOf(120));
    const requests = await Promise.all([1, 2, 3, 4].map(() => next()));
    const results = await Promise.allSettled(requests.map((request) => billing.charge(request)));
    const charged = results.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
    expect(charged).toHaveLength(2);
    expect(results.find((result) => result.status === "rejected")).toMatchObject({
      reason: { code: "SPEND_LIMIT_REACHED", details: { limit: "token", max: 120, spent: 100 } },
    });
    const [first, second] = charged;
    if (!first || !second) throw new Error("two charges");
    await billing.settle(first, "failed");
    await billing.settle(second, "succeeded");
    await billing.charge(await next());
    await expect(billing.charge(await next())).rejects.toMatchObject({ code: "SPEND_LIMIT_REACHED" });
  });
});

describe("per-token spend cap without PostgreSQL", () => {
  it("refuses a capped token's charge rather than charging it uncapped", async () => {
    let charged = 0;
    const inner = {
      ...createNoBilling(),
      charge: async () => {
        charged += 1;
        return { billingRecordId: "b", paymentIntentId: "p", amount: 1, currency: "usd" };
      },
    };
    const billing = withTokenSpendCaps(inner, null, { prepaid: false });
    const request = {
      executionId: randomUUID(),
      user: { id: "u" },
      spell: { slug: "cent@v1", artifact: { metadata: {} } },
      price: { amount: 1, currency: "usd" },
    } as unknown as ChargeRequest;
    await expect(billing.charge({ ...request, maxSpend: capOf(10) } as ChargeRequest)).rejects.toMatchObject({
      code: "BILLING_NOT_CONFIGURED",
      details: { reason: "token_spend_needs_postgres" },
    });
    expect(charged).toBe(0);
    await billing.charge(request);
    expect(charged).toBe(1);
  });
});
