import { randomUUID } from "node:crypto";
import { AppError } from "@spell/contracts";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createEngine } from "../engine.ts";
import type { BeginOptions, Billing, Charge, ExecutionLog } from "../ports.ts";
import { createMemoryEngineDeps, runningExecution } from "../testing/index.ts";

type Fold = "fold" | "decline" | { refuse: AppError };

/**
 * A ledger-like adapter (prepaid): `chargeAtBegin` writes the running row with the charge, as the
 * one statement of `LedgerStore.beginReserve` does, or declines (null) or refuses.
 */
function setup(options: { fold?: Fold } = {}) {
  const { deps, ports, billing } = createMemoryEngineDeps();
  const begins: Array<{ key: string | null; options: BeginOptions | undefined }> = [];
  const log: ExecutionLog = {
    ...ports.executionLog,
    begin(execution, beginOptions) {
      begins.push({ key: execution.idempotencyKey, options: beginOptions });
      return ports.executionLog.begin(execution, beginOptions);
    },
  };
  deps.executions = log;
  let fold: Fold = options.fold ?? "fold";
  const folding: Billing = {
    ...billing.billing,
    async chargeAtBegin(request, execution) {
      ports.calls.push("billing.chargeAtBegin");
      if (fold === "decline") return null;
      if (typeof fold === "object") throw fold.refuse;
      ports.executions.set(execution.id, runningExecution(execution));
      const reserveId = randomUUID();
      const charge: Charge = {
        billingRecordId: reserveId,
        paymentIntentId: `prepaid:${reserveId}`,
        amount: request.price.amount,
        currency: request.price.currency,
        ledgerReserve: true,
      };
      return charge;
    },
  };
  deps.billing = folding;
  const engine = createEngine(deps);
  ports.putSpell({ slug: "paid@v1", price: { amount: 1, currency: "usd" } });
  ports.putSpell({ slug: "free@v1" });
  return {
    engine,
    ports,
    billing,
    begins,
    deps,
    setFold(next: Fold) {
      fold = next;
    },
  };
}

const PIPELINE_HEAD = ["auth.verify", "users.ensureUserWithSpell", "spells.read"];

afterEach(() => {
  vi.useRealTimers();
});

describe("charge at begin (one write for the begin and the charge)", () => {
  it("a priced call without a key: the adapter writes the row with the charge, no separate begin or charge", async () => {
    const { engine, ports, begins } = setup();
    const result = await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: { a: 1 } });
    expect(result.billing).toMatchObject({ charged: true, status: "charged" });
    expect(ports.calls).toEqual([
      ...PIPELINE_HEAD,
      "billing.chargeAtBegin",
      "executions.finish",
      "billing.settle:succeeded",
    ]);
    expect(begins).toEqual([]);
    expect(ports.executions.get(result.executionId)).toMatchObject({ status: "succeeded" });
  });

  it("a refusal runs nothing and logs the execution finished with its error (no begin, no charge)", async () => {
    const refusal = new AppError("INSUFFICIENT_BALANCE", "short", { missing: 5 });
    const { engine, ports, billing } = setup({ fold: { refuse: refusal } });
    await expect(engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} })).rejects.toBe(refusal);
    expect(ports.calls).toEqual([...PIPELINE_HEAD, "billing.chargeAtBegin", "executions.record"]);
    expect(billing.charges).toHaveLength(0);
    const [logged] = [...ports.executions.values()];
    expect(logged).toMatchObject({
      userId: "alice",
      status: "failed",
      outcome: { kind: "failed", error: { code: "INSUFFICIENT_BALANCE", details: { missing: 5 } } },
    });
  });

  it("the provider out of reach is answered retryable, as a refused charge after a begin is", async () => {
    const { engine } = setup({ fold: { refuse: new AppError("SERVICE_UNAVAILABLE", "db", {}) } });
    await expect(engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} })).rejects.toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      details: { retryable: true },
    });
  });

  it("an adapter that cannot fold this call (null) gets the usual begin, asynchronously committed, then charge", async () => {
    const { engine, ports, begins } = setup({ fold: "decline" });
    await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} });
    expect(ports.calls).toEqual([
      ...PIPELINE_HEAD,
      "billing.chargeAtBegin",
      "executions.begin",
      "billing.charge",
      "executions.finish",
      "billing.settle:succeeded",
    ]);
    expect(begins).toEqual([{ key: null, options: { asynchronousCommit: true } }]);
  });

  it("a call with an idempotency key never folds and its begin stays synchronous", async () => {
    const { engine, ports, begins } = setup();
    await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {}, idempotencyKey: "k-1" });
    expect(ports.calls).not.toContain("billing.chargeAtBegin");
    expect(ports.calls).toContain("billing.charge");
    expect(begins).toEqual([{ key: "k-1", options: { asynchronousCommit: false } }]);
  });

  it("a free call without a key neither folds nor begins: one record after the run", async () => {
    const { engine, ports, begins } = setup();
    await engine.executeSpell("Bearer alice", { spell: "free@v1", input: {} });
    expect(ports.calls).toEqual([...PIPELINE_HEAD, "executions.record"]);
    expect(begins).toEqual([]);
  });

  it("per use (no chargeAtBegin): the begin of a priced call without a key is asked to commit asynchronously", async () => {
    const { deps, ports, billing, begins } = setup();
    deps.billing = billing.billing;
    const engine = createEngine(deps);
    await engine.executeSpell("Bearer alice", { spell: "paid@v1", input: {} });
    expect(ports.calls.slice(3, 5)).toEqual(["executions.begin", "billing.charge"]);
    expect(begins).toEqual([{ key: null, options: { asynchronousCommit: true } }]);
  });

  it("a finish that finds its row lost (execution_lost) answers not stored and is not retried", async () => {
    vi.useFakeTimers();
    const { ports, deps } = setup();
    let finishes = 0;
    const lost = new AppError("SERVICE_UNAVAILABLE", "lost", { reason: "execution_lost", retryable: true });
    deps.executions = {
      ...deps.executions,
      async finish() {
        finishes += 1;
        throw lost;
      },
    };
    const lossy = createEngine(deps);
    await expect(lossy.executeSpell("Bearer alice", { spell: "paid@v1", input: {} })).rejects.toMatchObject({
      code: "SERVICE_UNAVAILABLE",
      details: { reason: "result_not_stored", billing: { charged: false, status: "not_charged" } },
    });
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    // The store, then one later attempt that learns the row is gone; never more.
    expect(finishes).toBe(2);
    expect(ports.calls).toContain("billing.settle:failed");
  });
});
