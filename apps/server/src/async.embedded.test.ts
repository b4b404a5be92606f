import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedHarness } from "./testutil/embedded.ts";
import type { Harness } from "./testutil/harness.ts";

// The embedded PGlite has no job engine: whatever server the other files use, this one starts the
// harness on the embedded database (DATABASE_URL unset while it starts).
let h: Harness;
beforeAll(async () => {
  h = await startEmbeddedHarness();
});
afterAll(() => h?.close());

describe("asynchronous executions on the embedded database", () => {
  it("Prefer is refused with 503 async_unavailable and writes nothing; without it execute runs", async () => {
    expect(h.runWorker).toBeUndefined();
    const alice = await h.user("alice");
    for (const prefer of ["respond-async", "wait=5"]) {
      const refused = await h.call("POST", "/api/spell/execute", {
        token: alice.token,
        body: { spell: "echo@v1", input: { a: 1 } },
        headers: { prefer },
      });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({
        ok: false,
        error: { code: "SERVICE_UNAVAILABLE", details: { reason: "async_unavailable" } },
      });
    }
    expect(await h.executionCount(alice.id)).toBe(0);
    const sync = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "echo@v1", input: { a: 1 } },
      headers: { prefer: "return=minimal" },
    });
    expect(sync.status).toBe(200);
    expect(sync.body.output).toEqual({ a: 1 });
    // Reads work on any database.
    const list = await h.call("GET", "/api/executions", { token: alice.token });
    expect(list.status).toBe(200);
  });
});
