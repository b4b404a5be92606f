import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, newExecution, publishRequest, type TestDatabase } from "../testing/index.ts";

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
});
afterAll(() => t?.drop());

const mine = { all: false, userId: "alice", teams: true };

describe("authors: publish guards, versions, rollback, disable", () => {
  it("records who published each version, lists them in order and rolls back in one statement", async () => {
    const slug = `v-${randomUUID().slice(0, 8)}@v1`;
    const first = await t.database.spells.publish(
      publishRequest({ slug, createdBy: "alice", publishedBy: "alice", expectSpellId: null }),
    );
    const second = await t.database.spells.publish(
      publishRequest({
        slug,
        createdBy: "alice",
        publishedBy: "carol",
        expectSpellId: first.id,
        artifact: { builtin: "resize", apiEndpoint: null, wasmBinary: null, wasmSha256: null, metadata: {} },
      }),
    );
    const versions = await t.database.authors.listVersions(first.id);
    expect(versions).toMatchObject([
      { artifactId: first.artifact.id, createdBy: "alice", runtime: "builtin" },
      { artifactId: second.artifact.id, createdBy: "carol", runtime: "builtin" },
    ]);
    expect(versions[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(versions[0]?.sha256).not.toBe(versions[1]?.sha256);
    const rolled = await t.database.authors.rollback(first.id, first.artifact.id);
    expect(rolled?.artifact.id).toBe(first.artifact.id);
    expect((await t.database.spells.findBySlug(slug, "x"))?.spell.artifact).toMatchObject({
      builtin: "echo",
    });
    // Another spell's artifact is refused.
    const other = await t.database.spells.publish(publishRequest({}));
    await expect(t.database.authors.rollback(first.id, other.artifact.id)).resolves.toBeNull();
  });

  it("a creation loses to an existing slug and an update only touches the spell that was checked: FORBIDDEN", async () => {
    const taken = await t.database.spells.publish(publishRequest({ createdBy: "bob" }));
    await expect(
      t.database.spells.publish(
        publishRequest({ slug: taken.slug, createdBy: "alice", expectSpellId: null }),
      ),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      t.database.spells.publish(
        publishRequest({ slug: taken.slug, createdBy: "alice", expectSpellId: randomUUID() }),
      ),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await t.database.spells.findBySlug(taken.slug, "x"))?.spell.artifact.id).toBe(taken.artifact.id);
  });

  it("disable hides the spell from listings and the execute read says disabled; enable restores", async () => {
    const spell = await t.database.spells.publish(publishRequest({ createdBy: "alice" }));
    const disabled = await t.database.authors.setDisabled(spell.id, true);
    expect(disabled.disabled).toBe(true);
    const read = await t.database.users.ensureUserWithSpell("reader", spell.slug);
    expect(read.lookup?.spell.disabled).toBe(true);
    expect((await t.database.spells.listRunnable("reader")).map((s) => s.slug)).not.toContain(spell.slug);
    const enabled = await t.database.authors.setDisabled(spell.id, false);
    expect(enabled.disabled).toBeUndefined();
    expect((await t.database.spells.listRunnable("reader")).map((s) => s.slug)).toContain(spell.slug);
  });

  it("update changes only the given fields; metadata makes a new version of the same artifact", async () => {
    const spell = await t.database.spells.publish(
      publishRequest({
        createdBy: "alice",
        artifact: {
          builtin: "echo",
          apiEndpoint: null,
          wasmBinary: null,
          wasmSha256: null,
          metadata: { description: "a" },
        },
      }),
    );
    const priced = await t.database.authors.update(spell.id, {
      price: { amount: 80, currency: "usd" },
      updatedBy: "alice",
    });
    expect(priced).toMatchObject({
      price: { amount: 80 },
      visibility: "public",
      artifact: { id: spell.artifact.id },
    });
    const described = await t.database.authors.update(spell.id, {
      metadata: { description: "b" },
      updatedBy: "carol",
    });
    expect(described.artifact).toMatchObject({ builtin: "echo", metadata: { description: "b" } });
    expect(described.artifact.id).not.toBe(spell.artifact.id);
    expect((await t.database.authors.listVersions(spell.id)).map((v) => v.createdBy)).toEqual([
      "alice",
      "carol",
    ]);
  });
});

describe("authors: runs, one run, stats", () => {
  it("lists the runs of the caller's spells only, filtered and paged; the log and revenue come along", async () => {
    const spell = await t.database.spells.publish(publishRequest({ createdBy: "alice" }));
    const foreign = await t.database.spells.publish(publishRequest({ createdBy: "bob" }));
    const runs = [];
    for (const [status, code] of [
      ["succeeded", null],
      ["failed", "RUNTIME_ERROR"],
      ["succeeded", null],
    ] as const) {
      const execution = newExecution({
        userId: `caller-${randomUUID()}`,
        spellId: spell.id,
        slug: spell.slug,
      });
      await t.database.executions.begin(execution);
      await t.database.executions.finish(
        execution.id,
        status === "succeeded"
          ? {
              kind: "succeeded",
              spell: { slug: spell.slug, runtime: "builtin" },
              output: {},
              billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
              durationMs: 4,
            }
          : {
              kind: "failed",
              error: { code: code ?? "RUNTIME_ERROR", message: "boom", details: { upstreamStatus: 502 } },
            },
        new Date(),
        status === "failed" ? "guest stderr" : null,
      );
      runs.push(execution);
    }
    const other = newExecution({ userId: "someone", spellId: foreign.id, slug: foreign.slug });
    await t.database.executions.begin(other);

    const all = await t.database.authors.listRuns({ scope: mine, spellId: spell.id, limit: 10 });
    expect(all.map((r) => r.executionId).sort()).toEqual(runs.map((r) => r.id).sort());
    const page = await t.database.authors.listRuns({ scope: mine, spellId: spell.id, limit: 2 });
    const last = page[1];
    expect(page).toHaveLength(2);
    const rest = await t.database.authors.listRuns({
      scope: mine,
      spellId: spell.id,
      limit: 2,
      before: { createdAt: last?.createdAt ?? new Date(), id: last?.executionId ?? "" },
    });
    expect(rest).toHaveLength(1);
    expect(
      await t.database.authors.listRuns({ scope: mine, spellId: spell.id, status: "failed", limit: 10 }),
    ).toMatchObject([{ status: "failed", errorCode: "RUNTIME_ERROR", callerShares: false }]);
    const everything = await t.database.authors.listRuns({ scope: mine, limit: 100 });
    expect(everything.map((r) => r.slug)).not.toContain(foreign.slug);

    const failed = runs[1];
    const detail = await t.database.authors.getRun(failed?.id ?? "", "alice");
    expect(detail).toMatchObject({
      log: "guest stderr",
      spellCreatedBy: "alice",
      outcome: { kind: "failed" },
    });

    await t.database.authors.setShareIdentity(failed?.userId ?? "", true);
    expect((await t.database.authors.getRun(failed?.id ?? "", "alice"))?.callerShares).toBe(true);

    const stats = await t.database.authors.stats({ scope: mine, spellId: spell.id, period: "day" });
    expect(stats).toMatchObject([{ slug: spell.slug, runs: 3, succeeded: 2, failed: 1, revenue: [] }]);
    const monthly = await t.database.authors.stats({
      scope: { all: false, userId: "bob", teams: false },
      spellId: spell.id,
      period: "month",
    });
    expect(monthly).toEqual([]);
  });
});
