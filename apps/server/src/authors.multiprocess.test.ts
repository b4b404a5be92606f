import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, signToken, startHarness } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe("authors across processes", () => {
  it("a rollback and an unpublish on one process are effective at once on another", async () => {
    const other = await h.startInstance();
    const id = `author-${crypto.randomUUID()}`;
    const token = await signToken(id, { scopes: ["spell:publish"] });
    const slug = `two-${crypto.randomUUID().slice(0, 8)}@v1`;
    await h.call("POST", "/api/spells/publish", {
      token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    await h.call("POST", "/api/spells/publish", {
      token,
      body: { slug, runtime: "builtin", artifact: { builtin: "resize" } },
    });
    const runner = await h.user();
    // On the other process the current version (resize) refuses a non-image input.
    const before = await call(other.url, "POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: { x: 1 } },
    });
    expect(before.status).toBe(400);
    const rolled = await h.call("POST", "/api/spells/rollback", { token, body: { slug, version: 1 } });
    expect(rolled.status).toBe(200);
    const after = await call(other.url, "POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: { x: 1 } },
    });
    expect(after.body).toMatchObject({ ok: true, output: { x: 1 } });
    await h.call("POST", "/api/spells/disable", { token, body: { slug } });
    const disabled = await call(other.url, "POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: {} },
    });
    expect(disabled.status).toBe(404);
  });
});
