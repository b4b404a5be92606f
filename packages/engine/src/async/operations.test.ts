import { describe, expect, it } from "vitest";
import { createEngine } from "../engine.ts";
import { createMemoryEngineDeps } from "../testing/index.ts";

describe("asynchronous executions without a job engine (the embedded database)", () => {
  it("refuse Prefer with 503 async_unavailable before anything is read, charged or written", async () => {
    const { deps, ports } = createMemoryEngineDeps();
    const engine = createEngine(deps);
    ports.putSpell({ slug: "paid@v1", runtime: "builtin", price: { amount: 100, currency: "usd" } });
    await expect(
      engine.executions?.executeAsync("Bearer alice", { spell: "paid@v1", input: {} }, { waitMs: 0 }),
    ).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE", details: { reason: "async_unavailable" } });
    expect(ports.calls).toEqual([]);
  });
});
