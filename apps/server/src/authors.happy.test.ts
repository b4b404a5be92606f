import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, signToken, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

async function author() {
  const id = `author-${crypto.randomUUID()}`;
  return { id, token: await signToken(id, { scopes: ["spell:publish"] }) };
}

describe("authors: explicit updates, history, unpublish, views", () => {
  it("republishing keeps visibility and metadata; update changes what is given and says so", async () => {
    const alice = await author();
    const slug = `keep-${crypto.randomUUID().slice(0, 8)}@v1`;
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: {
        slug,
        runtime: "builtin",
        artifact: { builtin: "echo" },
        visibility: "private",
        metadata: { description: "mine" },
      },
    });
    const again = await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "resize" } },
    });
    expect(again.body).toMatchObject({
      created: false,
      changed: ["artifact"],
      spell: { visibility: "private" },
    });
    const listed = await h.call("GET", "/api/spells", { token: alice.token });
    expect(listed.body.spells.find((s: { slug: string }) => s.slug === slug)).toMatchObject({
      description: "mine",
    });
    const updated = await h.trpc(alice.token).authors.update.mutate({ slug, visibility: "public" });
    expect(updated.changed).toEqual(["visibility"]);
  });

  it("versions, rollback, unpublish (404 SPELL_DISABLED on both transports) and enable", async () => {
    const alice = await author();
    const slug = `hist-${crypto.randomUUID().slice(0, 8)}@v1`;
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "resize" } },
    });
    const versions = await h.call("GET", `/api/spells/versions?slug=${encodeURIComponent(slug)}`, {
      token: alice.token,
    });
    expect(versions.body.versions).toMatchObject([
      { version: 1, createdBy: alice.id, current: false },
      { version: 2, createdBy: alice.id, current: true },
    ]);
    const rollback = await h.call("POST", "/api/spells/rollback", {
      token: alice.token,
      body: { slug, version: 1 },
    });
    expect(rollback.status).toBe(200);
    const runner = await h.user();
    const ran = await h.call("POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: { hi: 1 } },
    });
    expect(ran.body.output).toEqual({ hi: 1 });

    await h.call("POST", "/api/spells/disable", { token: alice.token, body: { slug } });
    const refused = await h.call("POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug },
    });
    expect(refused.status).toBe(404);
    expect(refused.body.error).toMatchObject({ code: "SPELL_DISABLED", details: { spell: slug } });
    const viaTrpc = await h
      .trpc(runner.token)
      .spell.execute.mutate({ spell: slug, input: {} })
      .catch((e: { data?: unknown }) => e);
    expect((viaTrpc as { data?: unknown }).data).toMatchObject({ code: "SPELL_DISABLED", httpStatus: 404 });
    const still = await h.call("GET", `/api/spells/versions?slug=${encodeURIComponent(slug)}`, {
      token: alice.token,
    });
    expect(still.body).toMatchObject({ disabled: true });
    expect(still.body.versions).toHaveLength(2);
    await h.call("POST", "/api/spells/disable", { token: alice.token, body: { slug, disabled: false } });
    const back = await h.call("POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: {} },
    });
    expect(back.status).toBe(200);
  });

  it("the author sees runs (caller hidden unless shared), one run's log and stats", async () => {
    const alice = await author();
    const slug = `views-${crypto.randomUUID().slice(0, 8)}@v1`;
    await h.call("POST", "/api/spells/publish", {
      token: alice.token,
      body: { slug, runtime: "builtin", artifact: { builtin: "echo" } },
    });
    const runner = await h.user();
    const ok = await h.call("POST", "/api/spell/execute", {
      token: runner.token,
      body: { spell: slug, input: { a: 1 } },
    });
    const sharer = await h.user();
    await h.call("POST", "/api/me/share-identity", { token: sharer.token, body: { share: true } });
    await h.call("POST", "/api/spell/execute", { token: sharer.token, body: { spell: slug, input: {} } });
    // Free runs without a key are written after the answer, grouped: wait until both are stored.
    for (
      let i = 0;
      i < 50 && (await h.testDb.database.prisma.execution.count({ where: { slug } })) < 2;
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const runs = await h.call("GET", `/api/spells/runs?slug=${encodeURIComponent(slug)}`, {
      token: alice.token,
    });
    expect(runs.status).toBe(200);
    expect(runs.body.runs).toHaveLength(2);
    const byId = Object.fromEntries(runs.body.runs.map((r: { executionId: string }) => [r.executionId, r]));
    expect(byId[ok.body.executionId]).toMatchObject({
      status: "succeeded",
      callerId: null,
      price: { amount: 0 },
    });
    expect(runs.body.runs.map((r: { callerId: string | null }) => r.callerId)).toContain(sharer.id);
    const paged = await h.call("GET", `/api/spells/runs?slug=${encodeURIComponent(slug)}&limit=1`, {
      token: alice.token,
    });
    expect(paged.body.nextCursor).toEqual(expect.any(String));
    const failedOnly = await h.call(
      "GET",
      `/api/spells/runs?slug=${encodeURIComponent(slug)}&status=failed`,
      { token: alice.token },
    );
    expect(failedOnly.body.runs).toEqual([]);
    const log = await h.call("GET", `/api/spells/runs/log?executionId=${ok.body.executionId}`, {
      token: alice.token,
    });
    expect(log.body.run).toMatchObject({
      executionId: ok.body.executionId,
      upstreamStatus: null,
      error: null,
    });
    const stats = await h.call("GET", `/api/spells/stats?slug=${encodeURIComponent(slug)}&period=month`, {
      token: alice.token,
    });
    expect(stats.body).toMatchObject({
      period: "month",
      buckets: [{ slug, runs: 2, succeeded: 2, failed: 0, revenue: [] }],
    });
  });
});
