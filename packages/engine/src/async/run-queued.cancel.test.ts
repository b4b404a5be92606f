import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import type {
  AsyncExecutionStore,
  Charge,
  ExecutionRecord,
  Runtime,
  SettlementOrder,
  StoredOutcome,
} from "../ports.ts";
import { createMemoryEngineDeps } from "../testing/index.ts";

// The worker's side of a cancel (issue 13): while a queued run runs, its row is polled; once it is
// no longer `running` (canceled by whichever process served the cancel) the runtime's signal aborts,
// the failure is stored with a pending cancel, and the authorization is released, never captured.

/** One asynchronous row, with the store's conditional transitions (the db package implements them in SQL). */
function oneRowStore(record: ExecutionRecord, charge: Charge | null) {
  const row = { ...record };
  const finishes: { outcome: StoredOutcome; settlement: SettlementOrder | null; stored: boolean }[] = [];
  let reads = 0;
  const unexpected = () => Promise.reject(new Error("not used by runQueued"));
  const store: AsyncExecutionStore = {
    queue: unexpected,
    async claim(id) {
      if (id !== row.id || row.status !== "queued") return null;
      row.status = "running";
      return {
        execution: {
          id: row.id,
          userId: row.userId,
          spellId: "spl_slow",
          slug: row.slug,
          runtime: row.runtime,
          price: row.price,
          idempotencyKey: null,
          requestHash: "hash",
        },
        input: {},
        charge,
      };
    },
    cancelQueued: unexpected,
    cancelRunning: unexpected,
    async finishRun(_id, outcome, _finishedAt, _log, settlement) {
      const stored = row.status === "running";
      if (stored) {
        row.status = outcome.kind === "succeeded" ? "succeeded" : "failed";
        row.outcome = outcome;
      }
      finishes.push({ outcome, settlement, stored });
      return stored;
    },
    failStale: unexpected,
    async getOwned(id, userId) {
      reads++;
      return id === row.id && userId === row.userId ? { ...row } : null;
    },
    listOwned: unexpected,
  };
  return {
    store,
    row,
    finishes,
    reads: () => reads,
    /** What another API process's cancel does to the row. */
    cancel(status: ExecutionRecord["status"] = "canceled") {
      row.status = status;
    },
  };
}

/** A builtin-kind runtime that runs until its signal aborts, or `finishMs` pass. */
function slowRuntime(finishMs: number) {
  const seen = { started: 0, aborted: 0 };
  const runtime: Runtime = {
    kind: "builtin",
    prepare: () => ({ builtin: "slow", apiEndpoint: null, wasmBinary: null, wasmSha256: null }),
    run: ({ signal }) =>
      new Promise((resolve, reject) => {
        seen.started++;
        const timer = setTimeout(() => resolve({ output: { finished: true } }), finishMs);
        signal?.addEventListener("abort", () => {
          seen.aborted++;
          clearTimeout(timer);
          reject(new AppError("EXECUTION_CANCELED", "canceled", { reason: "canceled" }));
        });
      }),
    close: async () => {},
  };
  return { runtime, seen };
}

function setup(finishMs = 5_000) {
  const { runtime, seen } = slowRuntime(finishMs);
  const charge: Charge = { billingRecordId: "br_1", paymentIntentId: "pi_1", amount: 100, currency: "usd" };
  const rows = oneRowStore(
    {
      id: "exe_1",
      userId: "alice",
      slug: "slow@v1",
      runtime: "builtin",
      status: "queued",
      outcome: null,
      price: { amount: 100, currency: "usd" },
      createdAt: new Date(),
      finishedAt: null,
    },
    charge,
  );
  const { deps, ports, billing } = createMemoryEngineDeps({
    runtimes: [runtime],
    asyncExecutions: rows.store,
    runQueue: { enqueue: async () => {} },
  });
  ports.putSpell({
    id: "spl_slow",
    slug: "slow@v1",
    runtime: "builtin",
    createdBy: "alice",
    price: { amount: 100, currency: "usd" },
  });
  const engine = createEngine(deps);
  if (!engine.executions) throw new Error("no asynchronous executions");
  return { executions: engine.executions, rows, seen, billing };
}

describe("runQueued: a cancel made while the run runs", () => {
  it("aborts the runtime's signal at the next poll and releases the money, never capturing it", async () => {
    const { executions, rows, seen, billing } = setup();
    const run = executions.runQueued("exe_1", { cancelPollMs: 20 });
    await expect.poll(() => seen.started).toBe(1);
    const canceledAt = performance.now();
    rows.cancel();
    await run;
    expect(performance.now() - canceledAt).toBeLessThan(1_000);
    expect(seen.aborted).toBe(1);
    // The failure was offered with its pending cancel; the canceled row kept its own outcome.
    expect(rows.finishes).toEqual([
      expect.objectContaining({
        outcome: expect.objectContaining({ kind: "failed" }),
        settlement: expect.objectContaining({ action: "cancel" }),
        stored: false,
      }),
    ]);
    expect(rows.row.status).toBe("canceled");
    expect(billing.settlements.map((settlement) => settlement.outcome)).toEqual(["failed"]);
  });

  it("a run nobody cancels is not aborted: it finishes and is captured; the polling stops with it", async () => {
    const { executions, rows, seen, billing } = setup(100);
    // Faster than the poll: the run ends before its first read.
    const run = executions.runQueued("exe_1", { cancelPollMs: 10_000 });
    await expect.poll(() => seen.started).toBe(1);
    await run;
    expect(seen.aborted).toBe(0);
    expect(rows.row.status).toBe("succeeded");
    expect(billing.settlements.map((settlement) => settlement.outcome)).toEqual(["succeeded"]);
    expect(rows.reads()).toBe(0);
  });
});
