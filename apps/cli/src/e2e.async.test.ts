import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "./context.ts";
import { type E2E, startE2E } from "./testutil/e2e.ts";

/**
 * Asynchronous runs as a person meets them: the real server (`apps/server/src/main.ts`) in a child
 * process and the real `bin/spell.js`. With DATABASE_URL the server runs the job engine (pg-boss)
 * and the whole loop is exercised; on the embedded database it has none and refuses `--async`.
 */

/** A guest that never returns: it stays `running` until its timeout, the window in which to cancel. */
const LOOP_WASM = fileURLToPath(
  new URL("../../../packages/runtime-wasm/wasm/bin/loop.wasm", import.meta.url),
);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const withJobEngine = process.env.DATABASE_URL !== undefined;

let e2e: E2E;
const spellCli = (args: string[], env?: Record<string, string>) => e2e.spell(args, env);

// The job engine needs a PostgreSQL server (DATABASE_URL, as CI and `pnpm test` provide).
describe.runIf(withJobEngine)("spell exec --async and spell runs against a real server", () => {
  beforeAll(async () => {
    e2e = await startE2E("spell-e2e-async-");
  }, 120_000);
  afterAll(() => e2e?.close(), 30_000);

  const user = `e2e-async-${randomBytes(4).toString("hex")}`;

  it("exec --async prints an id; runs wait follows it to succeeded and exits 0; runs get shows it", async () => {
    const login = await spellCli(["login", "--dev", "--sub", user]);
    expect(login.code).toBe(0);

    const queued = await spellCli(["exec", "echo@v1", "--input", '{"later":true}', "--async"]);
    expect(queued.code).toBe(EXIT.ok);
    const executionId = queued.stdout.trim();
    expect(executionId).toMatch(UUID);
    expect(queued.stderr).toContain(`follow it: spell runs wait ${executionId}`);

    const waited = await spellCli(["runs", "wait", executionId, "--timeout", "30"]);
    expect(waited.code).toBe(EXIT.ok);
    expect(JSON.parse(waited.stdout)).toEqual({ later: true });

    const got = await spellCli(["runs", "get", executionId, "--json"]);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({
      ok: true,
      execution: { executionId, status: "succeeded", output: { later: true } },
    });

    const inTime = await spellCli(["exec", "echo@v1", "--input", '{"n":2}', "--wait", "20", "--json"]);
    expect(inTime.code).toBe(0);
    expect(JSON.parse(inTime.stdout)).toMatchObject({ ok: true, output: { n: 2 } });

    const finished = await spellCli(["runs", "cancel", executionId]);
    expect(finished.code).toBe(EXIT.other);
    expect(finished.stderr).toBe(`${executionId} had already succeeded; nothing to cancel\n`);
  }, 90_000);

  it("runs cancel stops a running run: canceled, exit 0; runs wait on it exits 5", async () => {
    const slug = `loop-${randomBytes(3).toString("hex")}@v1`;
    const minted = await spellCli(["token", "--dev", "--admin", "--sub", `${user}-admin`]);
    const admin = { SPELL_TOKEN: minted.stdout.trim() };
    const published = await spellCli(
      [
        "admin",
        "publish",
        "--slug",
        slug,
        "--runtime",
        "wasm",
        "--wasm",
        LOOP_WASM,
        "--config",
        '{"timeoutMs":4000}',
      ],
      admin,
    );
    expect(published.code).toBe(0);

    const queued = await spellCli(["exec", slug, "--async", "--json"]);
    expect(queued.code).toBe(EXIT.ok);
    const { executionId } = JSON.parse(queued.stdout) as { executionId: string };

    const canceled = await spellCli(["runs", "cancel", executionId]);
    expect(canceled.stderr).toBe("");
    expect(canceled.stdout).toBe(`canceled ${executionId} (not charged)\n`);
    expect(canceled.code).toBe(EXIT.ok);

    const waited = await spellCli(["runs", "wait", executionId, "--json"]);
    expect(waited.code).toBe(EXIT.canceled);
    expect(JSON.parse(waited.stdout)).toMatchObject({
      execution: { executionId, status: "canceled", error: { code: "EXECUTION_CANCELED" } },
    });

    // Canceling twice is not an error: the run is canceled either way.
    const again = await spellCli(["runs", "cancel", executionId]);
    expect(again.code).toBe(EXIT.ok);
  }, 90_000);
});

describe("spell exec --async on the embedded database", () => {
  let embedded: E2E;
  beforeAll(async () => {
    embedded = await startE2E("spell-e2e-async-embedded-", { embedded: true });
    e2e = embedded;
  }, 120_000);
  afterAll(() => embedded?.close(), 30_000);

  it("is refused with the server's async_unavailable error and exit 1; spell runs still lists", async () => {
    const login = await spellCli([
      "login",
      "--dev",
      "--sub",
      `e2e-embedded-${randomBytes(3).toString("hex")}`,
    ]);
    expect(login.code).toBe(0);
    const refused = await spellCli(["exec", "echo@v1", "--async", "--json"]);
    expect(refused.code).toBe(EXIT.other);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      error: { code: "SERVICE_UNAVAILABLE", details: { reason: "async_unavailable" } },
    });
    const runs = await spellCli(["runs"]);
    expect(runs.code).toBe(0);
  }, 60_000);
});
