import { AppError } from "@spell/contracts";
import { describe, expect, it, vi } from "vitest";
import { createEngine } from "../engine.ts";
import { attachRuntimeLog } from "../runtime-log.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";

describe("running and settling", () => {
  it("gives the money back when the runtime fails after payment", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    const failing = createRecordingRuntime("wasm", () => {
      throw new AppError("RUNTIME_ERROR", "trap", {});
    });
    deps.runtimes = [failing.runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "bad@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const error = await engine.executeSpell("Bearer alice", { spell: "bad@v1", input: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details.billing).toMatchObject({ refunded: true, charged: false });
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["failed"]);
  });

  it("logs a runtime's diagnostics with the execution, success or failure, without sending them", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    const stderr = "x".repeat(5_000);
    const { runtime } = createRecordingRuntime("wasm");
    deps.runtimes = [
      {
        ...runtime,
        async run({ input }) {
          if (input.fail)
            throw attachRuntimeLog(new AppError("RUNTIME_ERROR", "exit 1", { exitCode: 1 }), stderr);
          return { output: { ok: true }, log: "note" };
        },
      },
    ];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "logged@v1", runtime: "wasm" });
    const ok = await engine.executeSpell("Bearer alice", { spell: "logged@v1", input: {} });
    expect(ports.executions.get(ok.executionId)?.log).toBe("note");
    const error = await engine
      .executeSpell("Bearer alice", { spell: "logged@v1", input: { fail: true } })
      .catch((e) => e);
    expect(error.details).toEqual({ exitCode: 1 });
    const failed = [...ports.executions.values()].find((execution) => execution.status === "failed");
    expect(failed?.log).toBe(stderr);
  });

  it("still answers the runtime's error, and logs it, when the money cannot be released right away", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [
      createRecordingRuntime("wasm", () => {
        throw new AppError("RUNTIME_TIMEOUT", "too slow", { timeoutMs: 5 });
      }).runtime,
    ];
    deps.billing = {
      ...billing.billing,
      settle: async () => {
        throw new AppError("SERVICE_UNAVAILABLE", "Stripe unreachable");
      },
    };
    const engine = createEngine(deps);
    ports.putSpell({ slug: "slow@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const error = await engine.executeSpell("Bearer alice", { spell: "slow@v1", input: {} }).catch((e) => e);
    expect(error.code).toBe("RUNTIME_TIMEOUT");
    expect(error.details.billing).toMatchObject({ charged: false, refunded: false, settlementPending: true });
    const [execution] = [...ports.executions.values()];
    expect(execution?.status).toBe("failed");
  });

  it("tells the caller the charge is pending when the capture cannot be confirmed after a good run", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [createRecordingRuntime("wasm", () => ({ done: true })).runtime];
    deps.billing = {
      ...billing.billing,
      settle: async () => {
        throw new AppError("SERVICE_UNAVAILABLE", "Stripe unreachable");
      },
    };
    const engine = createEngine(deps);
    ports.putSpell({ slug: "paid@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const result = await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} });
    expect(result).toMatchObject({
      output: { done: true },
      billing: { charged: false, status: "pending", pending: true, amount: 100 },
    });
    // The capture stays recorded as pending work beside the stored answer, for the worker.
    expect(ports.settlementOrders).toMatchObject([{ action: "capture", charge: { amount: 100 } }]);
  });

  it("stores the answer with its pending capture before capturing, and says charged once captured", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    deps.runtimes = [createRecordingRuntime("wasm", () => ({ done: true })).runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "paid@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const result = await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} });
    expect(result.billing).toEqual({
      charged: true,
      status: "charged",
      amount: 100,
      currency: "usd",
      billingRecordId: expect.any(String),
    });
    expect(ports.calls.indexOf("executions.finish")).toBeLessThan(
      ports.calls.indexOf("billing.settle:succeeded"),
    );
    expect(ports.settlementOrders).toMatchObject([{ executionId: result.executionId, action: "capture" }]);
  });

  it("never captures an answer the database could not store: 503, authorization released, key finished later", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [createRecordingRuntime("wasm", () => ({ done: true })).runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "paid@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    ports.failNextFinishes(2);
    const error = await engine
      .executeSpell("Bearer alice", { spell: "paid@v1", input: {}, idempotencyKey: "k-outage" })
      .catch((e) => e);
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(error.details).toMatchObject({
      reason: "result_not_stored",
      billing: { charged: false, status: "not_charged", refunded: true, settlementPending: false },
    });
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["failed"]);
    // Once the database answers again the key reaches a terminal state with the cancel recorded.
    await vi.waitFor(() => expect([...ports.executions.values()][0]?.status).toBe("failed"), {
      timeout: 5_000,
    });
    expect(ports.settlementOrders).toMatchObject([{ action: "cancel" }]);
    const replay = await engine
      .executeSpell("Bearer alice", { spell: "paid@v1", input: {}, idempotencyKey: "k-outage" })
      .catch((e) => e);
    expect(replay.code).toBe("SERVICE_UNAVAILABLE");
    expect(billing.settlements.every((s) => s.outcome === "failed")).toBe(true);
  });

  it("turns an unexpected runtime exception into INTERNAL_ERROR without internals", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    deps.runtimes = [
      createRecordingRuntime("wasm", () => {
        throw new Error("secret stack detail");
      }).runtime,
    ];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "boom@v1", runtime: "wasm" });
    const error = await engine.executeSpell("Bearer alice", { spell: "boom@v1", input: {} }).catch((e) => e);
    expect(error.code).toBe("INTERNAL_ERROR");
    expect(error.message).not.toContain("secret");
  });

  it("answers RUNTIME_ERROR, after giving the money back, for a kind this server does not run", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    const engine = createEngine(deps);
    ports.putSpell({ slug: "wasm@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const error = await engine.executeSpell("Bearer alice", { spell: "wasm@v1", input: {} }).catch((e) => e);
    expect(error).toMatchObject({ code: "RUNTIME_ERROR", details: { runtime: "wasm" } });
    expect(billing.settlements.map((s) => s.outcome)).toEqual(["failed"]);
  });
  it("tells the adapter when the stored outcome already settled a ledger reserve, success or failure", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [
      createRecordingRuntime("wasm", (input) => {
        if (input.fail) throw new AppError("RUNTIME_ERROR", "trap", {});
        return { ok: true };
      }).runtime,
    ];
    // A store like the Postgres one for a prepaid reserve: the finish settles it in its own statement.
    const finish = deps.executions.finish;
    deps.executions = {
      ...deps.executions,
      finish: async (...args: Parameters<typeof finish>) => {
        await finish(...args);
        return { settled: args[4]?.charge.ledgerReserve === true };
      },
    };
    deps.billing = {
      ...billing.billing,
      charge: async (request) => ({ ...(await billing.billing.charge(request)), ledgerReserve: true }),
    };
    const engine = createEngine(deps);
    ports.putSpell({ slug: "reserved@v1", runtime: "wasm", price: { amount: 1, currency: "usd" } });
    const ok = await engine.executeSpell("Bearer alice", { spell: "reserved@v1", input: {} });
    expect(ok.billing).toMatchObject({ charged: true, status: "charged" });
    await engine
      .executeSpell("Bearer alice", { spell: "reserved@v1", input: { fail: true } })
      .catch(() => {});
    expect(billing.settlements.map(({ charge, outcome }) => [outcome, charge.settledByFinish])).toEqual([
      ["succeeded", true],
      ["failed", true],
    ]);
  });

  it("a store that only stores leaves the settling to the adapter", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [createRecordingRuntime("wasm").runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "card@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    await engine.executeSpell("Bearer alice", { spell: "card@v1", input: {} });
    expect(billing.settlements.map(({ charge }) => charge.settledByFinish)).toEqual([undefined]);
  });
  it("delivers the paid answer when only the finish's reply was lost and the money says it was stored", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    deps.runtimes = [createRecordingRuntime("wasm", () => ({ done: true })).runtime];
    const finish = deps.executions.finish;
    let lost = 1;
    deps.executions = {
      ...deps.executions,
      finish: async (...args: Parameters<typeof finish>) => {
        const finished = await finish(...args);
        if (lost-- > 0) throw new Error("connection reset after commit");
        return finished;
      },
    };
    // The prepaid adapter reads the debit the committed finish made: the release asked for is refused.
    deps.billing = {
      ...billing.billing,
      settle: async (charge, outcome) => {
        await billing.billing.settle(charge, outcome);
        return { status: "charged", refunded: false };
      },
    };
    const engine = createEngine(deps);
    ports.putSpell({ slug: "lost@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const answer = await engine.executeSpell("Bearer alice", {
      spell: "lost@v1",
      input: {},
      idempotencyKey: "k-lost-reply",
    });
    expect(answer).toMatchObject({
      ok: true,
      output: { done: true },
      billing: { charged: true, status: "charged" },
    });
    // Nothing stores a failure over the stored success afterwards.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect([...ports.executions.values()][0]?.status).toBe("succeeded");
  });
});
