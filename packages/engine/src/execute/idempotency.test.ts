import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";
import { hashExecutionRequest } from "./request-hash.ts";

function setup() {
  const { deps, ports, billing } = createMemoryEngineDeps();
  const wasm = createRecordingRuntime("wasm", (input) => ({ doubled: Number(input.n) * 2 }), ports.calls);
  deps.runtimes = [wasm.runtime];
  const engine = createEngine(deps);
  return { engine, ports, billing, wasm };
}

describe("idempotency", () => {
  it("replays the first result for a repeated key and runs once", async () => {
    const { engine, ports, billing, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const request = { spell: "double@v1", input: { n: 2 }, idempotencyKey: "k1" };
    const first = await engine.executeSpell("Bearer alice", request);
    const second = await engine.executeSpell("Bearer alice", { ...request, input: { n: 2 } });
    expect(second).toEqual(first);
    expect(wasm.invocations).toHaveLength(1);
    expect(billing.charges).toHaveLength(1);
  });

  it("answers IDEMPOTENCY_CONFLICT when the key is reused with another input", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm" });
    await engine.executeSpell("Bearer alice", { spell: "double@v1", input: { n: 2 }, idempotencyKey: "k" });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "double@v1", input: { n: 3 }, idempotencyKey: "k" }),
    ).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
  });

  it("treats the same key of two users as two executions", async () => {
    const { engine, ports, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm" });
    await engine.executeSpell("Bearer alice", { spell: "double@v1", input: { n: 1 }, idempotencyKey: "k" });
    await engine.executeSpell("Bearer bob", { spell: "double@v1", input: { n: 1 }, idempotencyKey: "k" });
    expect(wasm.invocations).toHaveLength(2);
  });

  it("resolves concurrent duplicates to one execution", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps();
    let runs = 0;
    deps.runtimes = [
      createRecordingRuntime("wasm", async () => {
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 30));
        return { runs };
      }).runtime,
    ];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "slow@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        engine.executeSpell("Bearer alice", { spell: "slow@v1", input: {}, idempotencyKey: "same" }),
      ),
    );
    expect(runs).toBe(1);
    expect(billing.charges).toHaveLength(1);
    expect(new Set(results.map((r) => r.executionId)).size).toBe(1);
  });

  it("lets a retry with the same key charge again, under the same execution id, after the provider was unreachable", async () => {
    const { engine, ports, billing, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    billing.failNextChargeWith(new AppError("SERVICE_UNAVAILABLE", "Stripe unreachable", {}));
    const request = { spell: "double@v1", input: { n: 1 }, idempotencyKey: "k" };
    const failed = await engine.executeSpell("Bearer alice", request).catch((e) => e);
    expect(failed).toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { retryable: true } });
    const [stored] = [...ports.executions.values()];

    const retried = await engine.executeSpell("Bearer alice", request);
    expect(retried.executionId).toBe(stored?.id);
    expect(billing.charges).toHaveLength(1);
    expect(wasm.invocations).toHaveLength(1);
    // A third call replays the success: nothing charged or run again.
    await expect(engine.executeSpell("Bearer alice", request)).resolves.toEqual(retried);
    expect(billing.charges).toHaveLength(1);
  });

  it("lets a retry take over an execution abandoned by a crashed process, under the same id", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps({ staleRunningMs: 20 });
    const wasm = createRecordingRuntime("wasm", (input) => input, ports.calls);
    deps.runtimes = [wasm.runtime];
    const engine = createEngine(deps);
    const spell = ports.putSpell({ slug: "s@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const request = { spell: "s@v1", input: { a: 1 }, idempotencyKey: "crash" };
    // A process began this execution and died before finishing it.
    const abandoned = {
      id: "00000000-0000-4000-8000-000000000001",
      userId: "alice",
      spellId: spell.id,
      slug: spell.slug,
      runtime: spell.runtime,
      price: spell.price,
      idempotencyKey: "crash",
      requestHash: hashExecutionRequest(spell.slug, request.input),
    };
    await ports.userStore.ensureUser("alice");
    await ports.executionLog.begin(abandoned);
    await new Promise((resolve) => setTimeout(resolve, 30));

    const result = await engine.executeSpell("Bearer alice", request);
    expect(result.executionId).toBe(abandoned.id);
    expect(wasm.invocations).toHaveLength(1);
    expect(billing.charges).toHaveLength(1);
  });

  it("replays a stored failure with the same code", async () => {
    const { engine, ports, billing } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    billing.failNextChargeWith(new AppError("BILLING_FAILED", "declined", {}));
    const request = { spell: "double@v1", input: {}, idempotencyKey: "k" };
    await expect(engine.executeSpell("Bearer alice", request)).rejects.toMatchObject({
      code: "BILLING_FAILED",
    });
    await expect(engine.executeSpell("Bearer alice", request)).rejects.toMatchObject({
      code: "BILLING_FAILED",
    });
    expect(billing.charges).toHaveLength(0);
  });
});

describe("waiting duplicates", () => {
  it("answers IDEMPOTENCY_CONFLICT (retryable) when the first request outlives the wait", async () => {
    const { deps, ports } = createMemoryEngineDeps({ duplicateWaitMs: 30 });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    deps.runtimes = [createRecordingRuntime("wasm", () => gate.then(() => ({ done: true }))).runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "slow@v1", runtime: "wasm" });
    const request = { spell: "slow@v1", input: {}, idempotencyKey: "long" };
    const first = engine.executeSpell("Bearer alice", request);
    await expect(engine.executeSpell("Bearer alice", request)).rejects.toMatchObject({
      code: "IDEMPOTENCY_CONFLICT",
      details: { retryable: true },
    });
    release();
    const answered = await first;
    await expect(engine.executeSpell("Bearer alice", request)).resolves.toEqual(answered);
  });
});

describe("the bounded number of waiting duplicates", () => {
  it("refuses the duplicate over the cap at once with 409 too_many_waiting; the waiters all get the first answer", async () => {
    const { deps, ports, billing } = createMemoryEngineDeps({ duplicateWaitMs: 20_000 });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const wasm = createRecordingRuntime("wasm", () => gate.then(() => ({ done: true })));
    deps.runtimes = [wasm.runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "slow@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const request = { spell: "slow@v1", input: {}, idempotencyKey: "crowd" };
    const first = engine.executeSpell("Bearer alice", request);
    // Let the first request store its running row before the duplicates arrive.
    while (wasm.invocations.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));

    // The cap is 100 per process: 100 duplicates wait, the 101st is refused without waiting.
    const waiting = Array.from({ length: 100 }, () => engine.executeSpell("Bearer alice", request));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const refused = await engine.executeSpell("Bearer alice", request).catch((error: unknown) => error);
    expect(refused).toMatchObject({
      code: "IDEMPOTENCY_CONFLICT",
      details: { reason: "too_many_waiting", retryable: true },
    });

    release();
    const answered = await first;
    const replays = await Promise.all(waiting);
    expect(replays.every((replay) => replay.executionId === answered.executionId)).toBe(true);
    expect(wasm.invocations).toHaveLength(1);
    expect(billing.charges).toHaveLength(1);
    // Every slot was given back: a later duplicate is answered, not refused.
    await expect(engine.executeSpell("Bearer alice", request)).resolves.toEqual(answered);
  });

  it("gives a waiter's slot back when its wait times out", async () => {
    const { deps, ports } = createMemoryEngineDeps({ duplicateWaitMs: 20 });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    deps.runtimes = [createRecordingRuntime("wasm", () => gate.then(() => ({ done: true }))).runtime];
    const engine = createEngine(deps);
    ports.putSpell({ slug: "slow@v1", runtime: "wasm" });
    const request = { spell: "slow@v1", input: {}, idempotencyKey: "timeouts" };
    const first = engine.executeSpell("Bearer alice", request);
    // Three rounds of 100 timed-out waiters: were a slot leaked, the later rounds would be refused.
    for (let round = 0; round < 3; round++) {
      const errors = await Promise.all(
        Array.from({ length: 100 }, () =>
          engine.executeSpell("Bearer alice", request).catch((error: unknown) => error),
        ),
      );
      expect(errors.every((error) => (error as AppError).details.reason === "in_progress")).toBe(true);
    }
    release();
    await first;
  });
});
