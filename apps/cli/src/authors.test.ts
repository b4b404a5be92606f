import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fail, fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const env = { SPELL_TOKEN: "tok", SPELL_API_URL: "http://127.0.0.1:9999" };
const spell = {
  id: "s1",
  slug: "mine@v1",
  runtime: "builtin",
  visibility: "private",
  teamId: null,
  ownerId: "alice",
  price: { amount: 0, currency: "usd" },
  artifactId: "a2",
  wasmSha256: null,
  disabled: false,
};

describe("spell publish / versions / rollback / logs / stats (authors)", () => {
  it("publish sends only the flags given, through authors.publish, and prints what changed", async () => {
    const api = fakeApi(() =>
      ok({ ok: true, created: false, changed: ["artifact"], spell, signingSecret: null }),
    );
    const res = await runCli(["publish", "--slug", "mine@v1", "--runtime", "builtin", "--builtin", "echo"], {
      cwd: dir,
      env,
      fetch: api.fetch,
    });
    expect(res.code).toBe(0);
    expect(api.sent[0]?.path).toBe("authors.publish");
    expect(api.sent[0]?.body).toEqual({ slug: "mine@v1", runtime: "builtin", artifact: { builtin: "echo" } });
    expect(res.stdout).toContain("changed: artifact");
  });

  it("publish refused for a token without spell:publish exits 3 with the code", async () => {
    const api = fakeApi(() => fail("FORBIDDEN", 403, "Publishing needs the spell:publish scope"));
    const res = await runCli(["publish", "--slug", "mine@v1", "--runtime", "builtin", "--builtin", "echo"], {
      cwd: dir,
      env,
      fetch: api.fetch,
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain("FORBIDDEN");
  });

  it("versions lists, rollback takes a version number", async () => {
    const api = fakeApi((path) =>
      path === "authors.versions"
        ? ok({
            ok: true,
            slug: "mine@v1",
            disabled: false,
            versions: [
              {
                version: 1,
                artifactId: "a1",
                runtime: "builtin",
                sha256: "a".repeat(64),
                createdBy: "alice",
                createdAt: "2026-12-20T00:00:00.000Z",
                current: false,
              },
              {
                version: 2,
                artifactId: "a2",
                runtime: "builtin",
                sha256: "b".repeat(64),
                createdBy: "rune",
                createdAt: "2026-12-21T00:00:00.000Z",
                current: true,
              },
            ],
          })
        : ok({ ok: true, previousArtifactId: "a2", version: 1, spell: { ...spell, artifactId: "a1" } }),
    );
    const versions = await runCli(["versions", "mine@v1"], { cwd: dir, env, fetch: api.fetch });
    expect(versions.stdout).toMatch(/\*2\s+2026-12-21/);
    expect(versions.stdout).toContain("rune");
    const rollback = await runCli(["rollback", "mine@v1", "1"], { cwd: dir, env, fetch: api.fetch });
    expect(api.sent[1]).toMatchObject({ path: "authors.rollback", body: { slug: "mine@v1", version: 1 } });
    expect(rollback.stdout).toContain("now runs version 1");
  });

  it("logs lists runs with hidden callers; --run prints one run's stderr; stats prints buckets", async () => {
    const run = {
      executionId: "e1",
      slug: "mine@v1",
      runtime: "wasm",
      artifactId: "a2",
      status: "failed",
      errorCode: "RUNTIME_ERROR",
      durationMs: 12,
      callerId: null,
      price: { amount: 50, currency: "usd" },
      charged: false,
      createdAt: "2026-12-21T10:00:00.000Z",
      finishedAt: "2026-12-21T10:00:01.000Z",
    };
    const api = fakeApi((path) => {
      if (path === "authors.runs") return ok({ ok: true, runs: [run], nextCursor: null });
      if (path === "authors.runLog")
        return ok({
          ok: true,
          run: {
            ...run,
            log: "panic: boom\n",
            upstreamStatus: null,
            error: { code: "RUNTIME_ERROR", message: "exit 1" },
          },
        });
      return ok({
        ok: true,
        period: "day",
        buckets: [
          {
            slug: "mine@v1",
            periodStart: "2026-12-21T00:00:00.000Z",
            runs: 3,
            succeeded: 2,
            failed: 1,
            revenue: [{ amount: 100, currency: "usd" }],
          },
        ],
      });
    });
    const logs = await runCli(["logs", "mine@v1", "--status", "failed"], { cwd: dir, env, fetch: api.fetch });
    expect(api.sent[0]?.path).toBe("authors.runs");
    expect(logs.stdout).toContain("(hidden)");
    expect(logs.stdout).toContain("RUNTIME_ERROR");
    const one = await runCli(["logs", "mine@v1", "--run", "e1"], { cwd: dir, env, fetch: api.fetch });
    expect(one.stdout).toContain("panic: boom");
    const stats = await runCli(["stats", "mine@v1"], { cwd: dir, env, fetch: api.fetch });
    expect(stats.stdout).toMatch(/2026-12-21\s+3\s+2\s+1/);
  });
});
