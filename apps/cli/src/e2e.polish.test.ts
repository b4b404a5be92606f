import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type E2E, startE2E } from "./testutil/e2e.ts";

/** The polish a person notices, on the real bin against the real server. */
let e2e: E2E;

beforeAll(async () => {
  e2e = await startE2E("spell-e2e-polish-");
  const login = await e2e.spell(["login", "--dev", "--sub", `polish-${randomBytes(4).toString("hex")}`]);
  expect(login.code).toBe(0);
}, 120_000);
afterAll(() => e2e?.close(), 30_000);

describe("the real spell command", () => {
  it("--version prints the version", async () => {
    const res = await e2e.spell(["--version"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("exits cleanly when the reader closes the pipe early (spell … | head)", async () => {
    // Far more than a pipe buffer, so the CLI is still writing when head goes away.
    const lines = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, "v".repeat(20)]));
    await writeFile(join(e2e.workDir, "big.json"), JSON.stringify(lines));
    const piped = await e2e.spellIntoHead(["exec", "echo@v1", "--input", "@big.json"], 10);
    expect(piped.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(piped.code).toBe(0);
  }, 60_000);

  it("reads --input @- from standard input", async () => {
    const res = await e2e.spell(
      ["exec", "echo@v1", "--input", "@-", "--json"],
      {},
      { stdin: '{"piped":true}' },
    );
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ ok: true, output: { piped: true } });
    expect(res.stderr).toBe("");
  });

  it("prints --json errors on stdout with the error's exit code", async () => {
    const res = await e2e.spell(["exec", "no-such@v1", "--json"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toMatchObject({ ok: false, error: { code: "SPELL_NOT_FOUND" } });
  });

  it("lists the runs it made, and shows one by id", async () => {
    const run = await e2e.spell(["exec", "echo@v1", "--input", '{"n":1}', "--json"]);
    const { executionId } = JSON.parse(run.stdout) as { executionId: string };
    const runs = await e2e.spell(["runs"]);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(new RegExp(`${executionId}\\s+echo@v1\\s+succeeded`));
    const one = await e2e.spell(["runs", executionId, "--json"]);
    expect(JSON.parse(one.stdout)).toMatchObject({ execution: { executionId, status: "succeeded" } });
  });

  it("login --dev refuses a server that does not trust the dev issuer and keeps the saved token", async () => {
    const before = await e2e.spell(["token"]);
    // Another data dir: a dev key this server has never seen (as against a production server).
    const other = await e2e.spell(["token", "--dev", "--data-dir", "elsewhere"]);
    expect(other.code).not.toBe(0); // no key there: the CLI never invents one
    const refused = await e2e.spell(["login", "--dev"], { SPELL_JWT_AUDIENCE: "another-audience" });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/DEV_ISSUER_NOT_TRUSTED/);
    expect((await e2e.spell(["token"])).stdout).toBe(before.stdout);
  });

  it("logout forgets the token", async () => {
    expect((await e2e.spell(["logout"])).code).toBe(0);
    const me = await e2e.spell(["me"]);
    expect(me.code).toBe(3);
  });
});
