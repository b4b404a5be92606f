import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps, createRecordingRuntime } from "../testing/index.ts";

function setup() {
  const { deps, ports, billing } = createMemoryEngineDeps();
  const wasm = createRecordingRuntime("wasm", (input) => ({ doubled: Number(input.n) * 2 }), ports.calls);
  deps.runtimes = [...deps.runtimes, wasm.runtime];
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
      // The answer (with its pending capture) is stored before the money is captured.
      "executions.finish",
      "billing.settle:succeeded",
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

  it("keeps a payment that needs customer action pending, with its input, and runs nothing", async () => {
    const { engine, ports, billing, wasm } = setup();
    ports.putSpell({ slug: "double@v1", runtime: "wasm", price: { amount: 100, currency: "usd" } });
    billing.failNextChargeWith(
      new AppError("PAYMENT_REQUIRES_ACTION", "3-D Secure", { paymentIntentId: "pi_1" }),
    );
    await expect(
      engine.executeSpell("Bearer alice", { spell: "double@v1", input: { n: 1 } }),
    ).rejects.toMatchObject({ code: "PAYMENT_REQUIRES_ACTION" });
    expect(wasm.invocations).toHaveLength(0);
    const [execution] = [...ports.executions.values()];
    expect(execution).toMatchObject({ status: "pending_payment", input: { n: 1 } });
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
