import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import type { Billing, Charge } from "../ports.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";

type Resumed = Awaited<ReturnType<Billing["resumePayment"]>>;

/** A priced spell whose first charge needed 3-D Secure; `resume` is what the provider says afterwards. */
async function pendingExecution() {
  const { deps, ports, billing } = createMemoryEngineDeps();
  const wasm = createRecordingRuntime("wasm", (input) => ({ got: input }), ports.calls);
  deps.runtimes = [wasm.runtime];
  const state: { resume: (executionId: string) => Resumed } = {
    resume: (executionId) => ({ executionId, status: "requires_action", charge: null }),
  };
  let pendingId = "";
  deps.billing = {
    ...billing.billing,
    async resumePayment(user, paymentIntentId) {
      ports.calls.push("billing.resumePayment");
      if (paymentIntentId !== "pi_3ds" || user.id !== "alice") throw new AppError("FORBIDDEN", "not yours");
      return state.resume(pendingId);
    },
  };
  const engine = createEngine(deps);
  ports.putSpell({ slug: "paid@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
  billing.failNextChargeWith(
    new AppError("PAYMENT_REQUIRES_ACTION", "3-D Secure", { paymentIntentId: "pi_3ds" }),
  );
  await expect(
    engine.executeSpell("Bearer alice", { spell: "paid@v1", input: { n: 1 } }),
  ).rejects.toMatchObject({ code: "PAYMENT_REQUIRES_ACTION" });
  pendingId = [...ports.executions.keys()][0] ?? "";
  const charge: Charge = {
    billingRecordId: "bil_1",
    paymentIntentId: "pi_3ds",
    amount: 100,
    currency: "usd",
  };
  return { engine, ports, billing, wasm, state, pendingId, charge };
}

describe("confirmIntent", () => {
  it("runs the pending execution once the payment succeeded; a second confirmation replays it", async () => {
    const { engine, billing, wasm, state, pendingId, charge } = await pendingExecution();
    state.resume = (executionId) => ({ executionId, status: "succeeded", charge });
    const alice = await engine.authenticate("Bearer alice");
    const first = await engine.confirmIntent(alice, { paymentIntentId: "pi_3ds" });
    expect(first).toMatchObject({
      executionId: pendingId,
      output: { got: { n: 1 } },
      billing: { charged: true, amount: 100, billingRecordId: "bil_1" },
    });
    await expect(engine.confirmIntent(alice, { paymentIntentId: "pi_3ds" })).resolves.toEqual(first);
    expect(wasm.invocations).toHaveLength(1);
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["succeeded"]);
  });

  it("answers PAYMENT_REQUIRES_ACTION while the customer has not finished, and runs nothing", async () => {
    const { engine, wasm } = await pendingExecution();
    const alice = await engine.authenticate("Bearer alice");
    await expect(engine.confirmIntent(alice, { paymentIntentId: "pi_3ds" })).rejects.toMatchObject({
      code: "PAYMENT_REQUIRES_ACTION",
    });
    expect(wasm.invocations).toHaveLength(0);
  });

  it("answers BILLING_FAILED when the payment failed", async () => {
    const { engine, state, wasm } = await pendingExecution();
    state.resume = (executionId) => ({ executionId, status: "failed", charge: null });
    const alice = await engine.authenticate("Bearer alice");
    await expect(engine.confirmIntent(alice, { paymentIntentId: "pi_3ds" })).rejects.toMatchObject({
      code: "BILLING_FAILED",
    });
    expect(wasm.invocations).toHaveLength(0);
  });

  it("refuses a banned caller before asking the payment provider", async () => {
    const { engine, ports } = await pendingExecution();
    const alice = await engine.authenticate("Bearer alice");
    await ports.adminStore.banUser("alice", "fraud", "admin");
    ports.calls.length = 0;
    const banned = { ...alice, user: { ...alice.user, status: "banned" as const } };
    await expect(engine.confirmIntent(banned, { paymentIntentId: "pi_3ds" })).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    expect(ports.calls).toEqual([]);
  });
});

describe("concurrent confirmations (regression: the losers answered PAYMENT_REQUIRES_ACTION)", () => {
  it("every concurrent confirm-intent caller gets the run's real outcome; the spell runs and is settled once", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    let runs = 0;
    deps.runtimes = [
      createRecordingRuntime("wasm", async (input) => {
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 40));
        return { got: input };
      }).runtime,
    ];
    const charge: Charge = {
      billingRecordId: "bil_c",
      paymentIntentId: "pi_3ds",
      amount: 100,
      currency: "usd",
    };
    let pendingId = "";
    deps.billing = {
      ...billing.billing,
      async resumePayment() {
        return { executionId: pendingId, status: "succeeded", charge };
      },
    };
    const engine = createEngine(deps);
    ports.putSpell({ slug: "paid@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    billing.failNextChargeWith(
      new AppError("PAYMENT_REQUIRES_ACTION", "3-D Secure", { paymentIntentId: "pi_3ds" }),
    );
    await expect(
      engine.executeSpell("Bearer alice", { spell: "paid@v1", input: { n: 7 } }),
    ).rejects.toMatchObject({ code: "PAYMENT_REQUIRES_ACTION" });
    pendingId = [...ports.executions.keys()][0] ?? "";
    const alice = await engine.authenticate("Bearer alice");

    const answers = await Promise.all(
      Array.from({ length: 8 }, () => engine.confirmIntent(alice, { paymentIntentId: "pi_3ds" })),
    );
    expect(runs).toBe(1);
    for (const answer of answers) {
      expect(answer).toMatchObject({
        ok: true,
        executionId: pendingId,
        output: { got: { n: 7 } },
        billing: { charged: true, amount: 100 },
      });
    }
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["succeeded"]);
  });
});
