import type { SpellRecord } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
let spell: SpellRecord;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  spell = await t.database.spells.publish(publishRequest({ slug: "paid@v1" }));
  await t.database.users.ensureUser("payer");
});
afterAll(() => t?.drop());

describe("billing store", () => {
  it("keeps the first customer id when two processes race to store one", async () => {
    const stored = await Promise.all(
      ["cus_a", "cus_b", "cus_c"].map((id) => t.database.billing.setCustomerIdIfUnset("racer", id)),
    );
    expect(new Set(stored).size).toBe(1);
    expect(await t.database.billing.getCustomer("racer")).toEqual({
      stripeCustomerId: stored[0],
      defaultPaymentMethodId: null,
    });
  });

  it("sets and clears the default payment method, which the user record reports", async () => {
    await t.database.billing.setCustomerIdIfUnset("payer", "cus_payer");
    expect(await t.database.billing.setDefaultPaymentMethod("cus_payer", "pm_1")).toBe(true);
    expect(await t.database.billing.setDefaultPaymentMethod("cus_nobody", "pm_1")).toBe(false);
    expect(await t.database.users.ensureUser("payer")).toMatchObject({
      stripeCustomerId: "cus_payer",
      hasPaymentMethod: true,
    });
    await t.database.billing.clearDefaultPaymentMethod("pm_1");
    expect(await t.database.users.ensureUser("payer")).toMatchObject({ hasPaymentMethod: false });
  });

  it("creates one record per payment intent and moves its status only forward", async () => {
    const execution = newExecution({ userId: "payer", spellId: spell.id, slug: spell.slug });
    await t.database.executions.begin(execution);
    const record = {
      userId: "payer",
      spellId: spell.id,
      executionId: execution.id,
      amount: 100,
      currency: "usd",
      paymentIntentId: "pi_1",
      status: "pending" as const,
      failureCode: null,
    };
    const first = await t.database.billing.createRecord(record);
    const again = await t.database.billing.createRecord(record);
    expect(again.id).toBe(first.id);
    expect(await t.database.billing.findRecordByPaymentIntent("pi_1")).toMatchObject({ status: "pending" });

    const captured = await t.database.billing.updateRecordStatus("pi_1", { status: "succeeded" }, [
      "pending",
    ]);
    expect(captured?.status).toBe("succeeded");
    expect(
      await t.database.billing.updateRecordStatus("pi_1", { status: "canceled" }, ["pending"]),
    ).toBeNull();
    expect(await t.database.billing.findRecordByPaymentIntent("pi_1")).toMatchObject({ status: "succeeded" });
    expect(await t.database.billing.findRecordByPaymentIntent("pi_unknown")).toBeNull();
  });

  it("counts captured money in the user's usage", async () => {
    const { usage } = await t.database.users.describe("payer", 5);
    expect(usage.totalCharged).toEqual([{ currency: "usd", amount: 100 }]);
  });

  it("remembers webhook events once and forgets failed ones", async () => {
    expect(await t.database.billing.recordEvent("evt_1", "payment_intent.succeeded")).toBe(true);
    expect(await t.database.billing.recordEvent("evt_1", "payment_intent.succeeded")).toBe(false);
    await t.database.billing.forgetEvent("evt_1");
    expect(await t.database.billing.recordEvent("evt_1", "payment_intent.succeeded")).toBe(true);
  });
});
