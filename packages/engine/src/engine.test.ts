import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createEngine } from "./engine.ts";
import { hashExecutionRequest } from "./request-hash.ts";
import { attachRuntimeLog } from "./runtime-log.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "./testing/index.ts";

function setup() {
  const { deps, ports, billing } = createMemoryEngineDeps();
  const wasm = createRecordingRuntime("wasm", (input) => ({ doubled: Number(input.n) * 2 }), ports.calls);
  deps.runtimes = [wasm.runtime];
  const engine = createEngine(deps);
  return { engine, ports, billing, wasm };
}

describe("executeSpell pipeline", () => {
  it("runs token → ban → spell → visibility → price → charge → runtime → log, in that order", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    const result = await engine.executeSpell("Bearer alice", { spell: "double@v1", input: { n: 4 } });
    expect(result.output).toEqual({ doubled: 8 });
    expect(result.billing).toMatchObject({ charged: true, amount: 100, currency: "usd" });
    expect(ports.calls).toEqual([
      "auth.verify",
      "users.ensureUserWithSpell",
      "spells.read",
      "executions.begin",
      "billing.charge",
      "runtime.wasm",
      "billing.settle:succeeded",
      "executions.finish",
    ]);
  });

  it("never loads, charges or runs anything for an unauthenticated caller", async () => {
    const { engine, ports, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    for (const authorization of [undefined, "Bearer forged"]) {
      await expect(
        engine.executeSpell(authorization, { spell: "double@v1", input: {} }),
      ).rejects.toMatchObject({
        code: "UNAUTHORIZED",
      });
    }
    expect(ports.calls.filter((call) => call !== "auth.verify")).toEqual([]);
    expect(wasm.invocations).toHaveLength(0);
  });

  it("refuses a banned user before touching the spell, billing or the runtime", async () => {
    const { engine, ports, billing, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    await ports.adminStore.banUser("mallory", "fraud", "admin");
    ports.calls.length = 0;
    await expect(
      engine.executeSpell("Bearer mallory", { spell: "double@v1", input: {} }),
    ).rejects.toMatchObject({
      code: "USER_BANNED",
    });
    // The one read answers the user only: a banned caller's spell is never read.
    expect(ports.calls).toEqual(["auth.verify", "users.ensureUserWithSpell"]);
    expect(billing.charges).toHaveLength(0);
    expect(wasm.invocations).toHaveLength(0);
  });

  it("answers SPELL_NOT_FOUND for an unknown slug", async () => {
    const { engine } = setup();
    await expect(engine.executeSpell("Bearer alice", { spell: "nope@v1", input: {} })).rejects.toMatchObject({
      code: "SPELL_NOT_FOUND",
    });
  });

  it.each([
    { visibility: "private" as const, createdBy: "bob", teamId: null, allowed: false },
    { visibility: "private" as const, createdBy: "alice", teamId: null, allowed: true },
    { visibility: "team" as const, createdBy: "bob", teamId: "blue", allowed: false },
    { visibility: "public" as const, createdBy: "bob", teamId: null, allowed: true },
  ])("enforces $visibility visibility (creator $createdBy) → allowed=$allowed", async (spell) => {
    const { engine, ports, billing } = setup();
    ports.putSpell({ slug: "s@v1", ...spell, price: { amount: 100, currency: "usd" } });
    const run = engine.executeSpell("Bearer alice", { spell: "s@v1", input: { a: 1 } });
    if (spell.allowed) await expect(run).resolves.toMatchObject({ ok: true });
    else {
      await expect(run).rejects.toMatchObject({ code: "VISIBILITY_DENIED" });
      expect(billing.charges).toHaveLength(0);
    }
  });

  it("admits team members only while they are members", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "t@v1", visibility: "team", teamId: "blue" });
    await ports.adminStore.setTeamMembership("blue", "alice", true);
    await expect(engine.executeSpell("Bearer alice", { spell: "t@v1", input: {} })).resolves.toMatchObject({
      ok: true,
    });
    await ports.adminStore.setTeamMembership("blue", "alice", false);
    await expect(engine.executeSpell("Bearer alice", { spell: "t@v1", input: {} })).rejects.toMatchObject({
      code: "VISIBILITY_DENIED",
    });
  });

  it("runs nothing when the charge fails, and records the failure", async () => {
    const { engine, ports, billing, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    billing.failNextChargeWith(
      new AppError("BILLING_FAILED", "declined", { declineCode: "generic_decline" }),
    );
    await expect(
      engine.executeSpell("Bearer alice", { spell: "double@v1", input: {} }),
    ).rejects.toMatchObject({
      code: "BILLING_FAILED",
    });
    expect(wasm.invocations).toHaveLength(0);
    const [execution] = [...ports.executions.values()];
    expect(execution?.status).toBe("failed");
  });

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
    deps.runtimes = [
      {
        kind: "wasm",
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
});

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

describe("free spells", () => {
  it("never calls billing and writes one log row after the run", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "echo@v1" });
    const result = await engine.executeSpell("Bearer alice", { spell: "echo@v1", input: { hello: "world" } });
    expect(result).toMatchObject({
      ok: true,
      output: { hello: "world" },
      billing: { charged: false, amount: 0, billingRecordId: null },
      spell: { slug: "echo@v1", runtime: "builtin" },
    });
    expect(ports.calls).toEqual([
      "auth.verify",
      "users.ensureUserWithSpell",
      "spells.read",
      "executions.record",
    ]);
  });
});

describe("publish and admin", () => {
  it("refuses publishing to a non-admin", async () => {
    const { engine } = setup();
    const session = await engine.authenticate("Bearer alice");
    await expect(
      engine.publish(session, {
        slug: "x@v1",
        runtime: "builtin",
        config: {},
        priceAmount: 0,
        currency: "usd",
        visibility: "public",
        artifact: { builtin: "echo" },
        metadata: {},
      }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("replaces the artifact and the next execute runs the new one", async () => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    const base = {
      slug: "thing@v1",
      runtime: "builtin" as const,
      config: {},
      priceAmount: 0,
      currency: "usd",
      visibility: "public" as const,
      metadata: {},
    };
    await engine.publish(admin, { ...base, artifact: { builtin: "echo" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).resolves.toMatchObject({
      output: { a: 1 },
    });
    await engine.publish(admin, { ...base, artifact: { builtin: "resize" } });
    await expect(
      engine.executeSpell("Bearer alice", { spell: "thing@v1", input: { a: 1 } }),
    ).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });

  it.each([
    [{ runtime: "builtin" as const, artifact: { builtin: "nope" } }, "ARTIFACT_INVALID"],
    [{ runtime: "wasm" as const, artifact: { builtin: "echo" } }, "ARTIFACT_INVALID"],
    [{ runtime: "api" as const, artifact: { apiEndpoint: "https://x.example" } }, "ARTIFACT_INVALID"],
    [{ runtime: "builtin" as const, artifact: { builtin: "echo" }, priceAmount: 10 }, "PRICE_BELOW_MINIMUM"],
  ])("refuses an invalid publication %#", async (overrides, code) => {
    const { engine } = setup();
    const admin = await engine.authenticate("Bearer admin:root");
    await expect(
      engine.publish(admin, {
        slug: "bad@v1",
        config: {},
        priceAmount: 0,
        currency: "usd",
        visibility: "public",
        metadata: {},
        ...overrides,
      }),
    ).rejects.toMatchObject({ code });
  });

  it("lists only runnable spells with their price and builtin input schema", async () => {
    const { engine, ports } = setup();
    ports.putSpell({ slug: "echo@v1" });
    ports.putSpell({ slug: "secret@v1", visibility: "private", createdBy: "bob" });
    const session = await engine.authenticate("Bearer alice");
    const listed = await engine.listSpells(session);
    expect(listed.spells.map((s) => s.slug)).toEqual(["echo@v1"]);
    expect(listed.spells[0]?.inputSchema).toMatchObject({ type: "object" });
  });
});
