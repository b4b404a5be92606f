import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";
import type { UserRepository } from "./users.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
});
afterAll(() => t?.drop());

describe("users.ensureUser", () => {
  it("creates an active user the first time a sub is seen and returns the same row afterwards", async () => {
    const first = await t.database.users.ensureUser("user-first");
    expect(first).toMatchObject({
      id: "user-first",
      status: "active",
      stripeCustomerId: null,
      hasPaymentMethod: false,
    });
    const again = await t.database.users.ensureUser("user-first");
    expect(again).toEqual(first);
  });

  it("creates exactly one row when many first requests race", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => t.database.users.ensureUser("user-racing")),
    );
    expect(new Set(results.map((user) => user.createdAt.getTime())).size).toBe(1);
    const rows = await t.database.prisma.user.count({ where: { id: "user-racing" } });
    expect(rows).toBe(1);
  });

  it("reports a saved payment method and a Stripe customer", async () => {
    await t.database.prisma.user.create({
      data: { id: "user-card", stripeCustomerId: "cus_1", defaultPaymentMethodId: "pm_1" },
    });
    expect(await t.database.users.ensureUser("user-card")).toMatchObject({
      stripeCustomerId: "cus_1",
      hasPaymentMethod: true,
    });
  });
});

describe("users.describe", () => {
  it("counts executions, sums succeeded charges per currency and lists the newest first", async () => {
    const userId = "user-usage";
    await t.database.users.ensureUser(userId);
    const spell = await t.database.spells.publish(publishRequest({ slug: "usage@v1" }));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const execution = newExecution({
        userId,
        spellId: spell.id,
        slug: "usage@v1",
        price: { amount: 100, currency: "usd" },
      });
      ids.push(execution.id);
      await t.database.executions.record(
        execution,
        i === 1
          ? { kind: "failed", error: { code: "RUNTIME_ERROR", message: "boom", details: {} } }
          : {
              kind: "succeeded",
              spell: { slug: "usage@v1", runtime: "builtin" },
              output: { i },
              durationMs: 5 + i,
              billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
            },
        new Date(),
      );
    }
    const billing = (paymentIntentId: string, status: string, amount: number, currency: string) => ({
      userId,
      spellId: spell.id,
      amount,
      currency,
      paymentIntentId,
      status,
    });
    await t.database.prisma.billingRecord.createMany({
      data: [
        billing("pi_1", "succeeded", 100, "usd"),
        billing("pi_2", "succeeded", 250, "usd"),
        billing("pi_3", "refunded", 100, "usd"),
        billing("pi_4", "succeeded", 500, "eur"),
      ],
    });

    const { user, usage } = await t.database.users.describe(userId, 2);
    expect(user.id).toBe(userId);
    expect(usage.totalExecutions).toBe(3);
    expect(usage.totalCharged).toEqual([
      { currency: "eur", amount: 500 },
      { currency: "usd", amount: 350 },
    ]);
    expect(usage.recent.map((entry) => entry.executionId)).toEqual([ids[2], ids[1]]);
    expect(usage.recent[1]).toMatchObject({
      status: "failed",
      errorCode: "RUNTIME_ERROR",
      slug: "usage@v1",
      amount: 100,
    });
    expect(usage.recent[0]).toMatchObject({ status: "succeeded", errorCode: null, durationMs: 7 });
    expect(Number.isNaN(Date.parse(usage.recent[0]?.createdAt ?? ""))).toBe(false);
  });

  it("given the user record the request already read, answers with it and does not read the user again", async () => {
    const userId = "user-read-once";
    const stored = await t.database.users.ensureUser(userId);
    // The request's record says banned while the row says active: only a re-read would notice.
    const asRead = { ...stored, status: "banned" as const };
    const users = t.database.users as unknown as UserRepository;
    const { user, usage } = await users.describe(asRead, 5);
    expect(user).toBe(asRead);
    expect(usage.totalExecutions).toBe(0);
    expect((await users.describe(userId, 5)).user.status).toBe("active");
  });
});

describe("ensureUserWithSpell", () => {
  it("reads the caller and the spell in one go, creating the caller on first sight", async () => {
    const spell = await t.database.spells.publish(publishRequest({ visibility: "team", teamId: "red" }));
    await t.database.admin.setTeamMembership("red", "fresh-member", true);
    const found = await t.database.users.ensureUserWithSpell("fresh-member", spell.slug);
    expect(found.user).toMatchObject({ id: "fresh-member", status: "active" });
    expect(found.lookup).toEqual({ spell, callerIsTeamMember: true });

    const stranger = await t.database.users.ensureUserWithSpell("never-seen", spell.slug);
    expect(stranger.user.id).toBe("never-seen");
    expect(stranger.lookup?.callerIsTeamMember).toBe(false);
  });

  it("carries the saved card in the same read, so a priced execute reads the user once", async () => {
    const spell = await t.database.spells.publish(publishRequest());
    const before = await t.database.users.ensureUserWithSpell("card-holder", spell.slug);
    expect(before.user).toMatchObject({
      stripeCustomerId: null,
      hasPaymentMethod: false,
      defaultPaymentMethodId: null,
    });
    await t.database.billing.setCustomerIdIfUnset("card-holder", "cus_holder");
    await t.database.billing.setDefaultPaymentMethod("cus_holder", "pm_holder");

    const after = await t.database.users.ensureUserWithSpell("card-holder", spell.slug);
    expect(after.user).toMatchObject({
      stripeCustomerId: "cus_holder",
      hasPaymentMethod: true,
      defaultPaymentMethodId: "pm_holder",
    });
  });

  it("answers no spell for an unknown slug", async () => {
    const found = await t.database.users.ensureUserWithSpell("someone", "missing@v1");
    expect(found.lookup).toBeNull();
  });

  it("never reads the spell for a banned caller", async () => {
    const spell = await t.database.spells.publish(publishRequest());
    await t.database.admin.banUser("banned-reader", "abuse", "admin");
    const found = await t.database.users.ensureUserWithSpell("banned-reader", spell.slug);
    expect(found.user.status).toBe("banned");
    expect(found.lookup).toBeNull();
  });
});
