import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedHarness } from "./testutil/embedded.ts";
import type { Harness } from "./testutil/harness.ts";

// The embedded PGlite has no job engine, so no webhook worker: whatever server the other files use,
// this one starts the harness on the embedded database (DATABASE_URL unset while it starts).
let h: Harness;
beforeAll(async () => {
  h = await startEmbeddedHarness();
});
afterAll(() => h?.close());

describe("run webhooks on the embedded database", () => {
  it("a webhook is refused with 503 async_unavailable, with or without Prefer, and nothing is written", async () => {
    expect(h.webhookWorker).toBeUndefined();
    const alice = await h.user("alice");
    for (const headers of [{}, { prefer: "respond-async" }] as Array<Record<string, string>>) {
      const refused = await h.call("POST", "/api/spell/execute", {
        token: alice.token,
        body: { spell: "echo@v1", input: { a: 1 }, webhook: { url: "https://hooks.example/run" } },
        headers,
      });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({
        ok: false,
        error: { code: "SERVICE_UNAVAILABLE", details: { reason: "async_unavailable" } },
      });
    }
    expect(await h.executionCount(alice.id)).toBe(0);
  });
});
