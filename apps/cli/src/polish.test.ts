import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadOrCreateDevIssuer } from "@spell/auth/dev";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SPINNER_DELAY_MS } from "./spinner.ts";
import { fail, fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";
import { bashComplete } from "./testutil/completion.ts";
import { recentRun } from "./testutil/fixtures.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const configFile = () => join(dir, "xdg", "spell", "config.json");
const ESC = "\u001b[";
const executed = (input: unknown) => ({
  ok: true,
  executionId: "exe_1",
  spell: { slug: "echo@v1", runtime: "builtin" },
  output: input,
  billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
  durationMs: 3,
});
const me = {
  ok: true,
  user: { id: "alice", status: "active", hasPaymentMethod: true, createdAt: "2026-01-01T00:00:00.000Z" },
  usage: {
    totalExecutions: 2,
    totalCharged: [{ currency: "usd", amount: 50 }],
    recent: [
      recentRun({ executionId: "exe_b", slug: "echo-paid@v1", amount: 50 }),
      recentRun({ executionId: "exe_c", status: "failed", errorCode: "RUNTIME_ERROR", amount: 50 }),
      recentRun(),
    ],
  },
};

describe("--json errors", () => {
  it("prints the unified error body on stdout with the usual exit code, nothing on stderr", async () => {
    const api = fakeApi(() => fail("UNAUTHORIZED", 401, "Missing bearer token", { reason: "missing_token" }));
    const res = await runCli(["exec", "echo@v1", "--json"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(3);
    expect(res.stderr).toBe("");
    expect(JSON.parse(res.stdout)).toEqual({
      ok: false,
      error: { code: "UNAUTHORIZED", message: "Missing bearer token", details: { reason: "missing_token" } },
    });
  });

  it("does so for the CLI's own refusals and for usage errors too", async () => {
    const bad = await runCli(["exec", "echo@v1", "--input", "[1]", "--json"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { code: "USAGE" } });
    const unknown = await runCli(["ls", "--json", "--nope"], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, error: { code: "USAGE" } });
  });

  it("keeps errors as text on stderr without --json", async () => {
    const api = fakeApi(() => fail("SPELL_NOT_FOUND", 404, "No spell x@v1"));
    const res = await runCli(["exec", "x@v1"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe("error SPELL_NOT_FOUND: No spell x@v1\n");
  });
});

describe("--input @-", () => {
  it("reads the input from standard input", async () => {
    const api = fakeApi((_path, body) => ok(executed((body as { input: unknown }).input)));
    const res = await runCli(["exec", "echo@v1", "--input", "@-", "--json"], {
      cwd: dir,
      fetch: api.fetch,
      stdin: '{"from":"stdin"}\n',
    });
    expect(res.code).toBe(0);
    expect(api.sent[0]?.body).toMatchObject({ spell: "echo@v1", input: { from: "stdin" } });
  });

  it("refuses standard input that is not a JSON object, naming it", async () => {
    const res = await runCli(["exec", "echo@v1", "--input", "@-"], { cwd: dir, stdin: "not json" });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error USAGE: standard input is not valid JSON/);
  });
});

describe("spinner", () => {
  const slowApi = () => {
    const api = fakeApi((_path, body) => ok(executed((body as { input: unknown }).input)));
    return {
      fetch: async (url: string, init?: RequestInit) => {
        await new Promise((resolve) => setTimeout(resolve, SPINNER_DELAY_MS + 250));
        return api.fetch(url, init);
      },
    };
  };

  it("shows the elapsed time on a terminal for a slow run, then clears its line", async () => {
    const res = await runCli(["exec", "echo@v1"], { cwd: dir, fetch: slowApi().fetch, tty: true });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/running echo@v1… 0\.\ds/);
    expect(res.stderr).toContain(`\r${ESC}2K`);
    expect(res.stdout).not.toContain("running");
  });

  it("never appears when piped or with --json, nor for a quick run", async () => {
    const piped = await runCli(["exec", "echo@v1"], { cwd: dir, fetch: slowApi().fetch });
    expect(piped.stderr).not.toContain("running");
    const json = await runCli(["exec", "echo@v1", "--json"], { cwd: dir, fetch: slowApi().fetch, tty: true });
    expect(json.stderr).toBe("");
    const quick = fakeApi((_path, body) => ok(executed((body as { input: unknown }).input)));
    const fast = await runCli(["exec", "echo@v1"], { cwd: dir, fetch: quick.fetch, tty: true });
    expect(fast.stderr).not.toContain("running");
  });
});

describe("spell runs", () => {
  it("lists recent executions with status and cost", async () => {
    const api = fakeApi(() => ok(me));
    const res = await runCli(["runs"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CREATED\s+EXECUTION\s+SPELL\s+STATUS\s+DURATION\s+COST$/);
    expect(lines[1]).toMatch(/exe_b\s+echo-paid@v1\s+succeeded\s+4 ms\s+\$0\.50$/);
    expect(lines[2]).toMatch(/exe_c\s+echo@v1\s+failed \(RUNTIME_ERROR\)\s+4 ms\s+not charged$/);
    expect(lines[3]).toMatch(/exe_a\s+echo@v1\s+succeeded\s+4 ms\s+free$/);
    expect(res.stdout).not.toContain(ESC);
  });

  it("shows one execution by id, and exits 1 for an id not among them", async () => {
    const api = fakeApi(() => ok(me));
    const one = await runCli(["runs", "exe_c"], { cwd: dir, fetch: api.fetch });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^execution\s+exe_c$/m);
    expect(one.stdout).toMatch(/^status\s+failed \(RUNTIME_ERROR\)$/m);
    const json = await runCli(["runs", "exe_b", "--json"], { cwd: dir, fetch: api.fetch });
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: true,
      execution: { executionId: "exe_b", amount: 50 },
    });
    const missing = await runCli(["runs", "exe_zzz"], { cwd: dir, fetch: api.fetch });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error NOT_FOUND: no execution exe_zzz among your 3 most recent/);
  });
});

describe("colour", () => {
  it("colours on a terminal, not with NO_COLOR, and never into a pipe", async () => {
    const api = fakeApi(() => ok(me));
    const tty = await runCli(["runs"], { cwd: dir, fetch: api.fetch, tty: true });
    expect(tty.stdout).toContain(`${ESC}32msucceeded`);
    // Padding counts what is visible, so columns still line up.
    const noColor = await runCli(["runs"], { cwd: dir, fetch: api.fetch, tty: true, env: { NO_COLOR: "1" } });
    expect(noColor.stdout).not.toContain(ESC);
    expect(tty.stdout.replace(new RegExp(`${ESC.replace("[", "\\[")}[0-9;]*m`, "g"), "")).toBe(
      noColor.stdout,
    );
    const error = await runCli(["exec", "echo@v1", "--input", "[1]"], { cwd: dir, tty: true });
    expect(error.stderr).toContain(`${ESC}31merror USAGE`);
  });
});

describe("logout", () => {
  it("removes the saved token and keeps the API URL", async () => {
    await runCli(["--api-url", "http://saved.test", "login", "--token", "t1"], { cwd: dir });
    const res = await runCli(["logout"], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^logged out; token removed from .*config\.json\n$/);
    expect(JSON.parse(await readFile(configFile(), "utf8"))).toEqual({ apiUrl: "http://saved.test" });
    expect((await runCli(["logout"], { cwd: dir })).stdout).toBe("not logged in\n");
    expect((await runCli(["token"], { cwd: dir })).code).toBe(3);
  });
});

describe("login --dev against a server", () => {
  it("saves the token only after the server accepted it", async () => {
    const dataDir = join(dir, "data");
    await loadOrCreateDevIssuer(dataDir);
    const api = fakeApi(() => ok(me));
    const res = await runCli(["login", "--dev"], {
      cwd: dir,
      env: { SPELL_DATA_DIR: dataDir },
      fetch: api.fetch,
    });
    expect(res.code).toBe(0);
    expect(api.sent[0]?.path).toBe("me");
    const { token } = JSON.parse(await readFile(configFile(), "utf8")) as { token: string };
    expect(api.sent[0]?.headers.get("authorization")).toBe(`Bearer ${token}`);
  });

  it("refuses a server that does not trust the dev issuer and leaves the saved token untouched", async () => {
    const dataDir = join(dir, "data");
    await loadOrCreateDevIssuer(dataDir);
    await runCli(["login", "--token", "working-production-token"], { cwd: dir });
    const api = fakeApi(() => fail("UNAUTHORIZED", 401, "Unknown issuer", { reason: "unknown_issuer" }));
    const res = await runCli(["login", "--dev"], {
      cwd: dir,
      env: { SPELL_DATA_DIR: dataDir },
      fetch: api.fetch,
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(
      /^error DEV_ISSUER_NOT_TRUSTED: .*does not trust this dev token \(unknown_issuer\)/,
    );
    expect(JSON.parse(await readFile(configFile(), "utf8"))).toEqual({ token: "working-production-token" });
  });
});

describe("spell completion", () => {
  const complete = (line: string[]) => bashComplete(line, dir);

  it("bash completes subcommands at each level and each command's flags", async () => {
    expect(await complete(["spell", ""])).toEqual(
      expect.arrayContaining(["exec", "runs", "logout", "admin"]),
    );
    expect(await complete(["spell", "ad"])).toEqual(["admin"]);
    expect(await complete(["spell", "admin", ""])).toEqual(
      expect.arrayContaining(["ban", "publish", "team"]),
    );
    expect(await complete(["spell", "exec", "echo@v1", "--id"])).toEqual(["--idempotency-key"]);
    expect(await complete(["spell", "admin", "publish", "--vis"])).toEqual(["--visibility"]);
  });

  it("prints zsh and fish scripts for the same commands, and refuses other shells", async () => {
    const zsh = await runCli(["completion", "zsh"], { cwd: dir });
    expect(zsh.stdout).toMatch(/^#compdef spell\n/);
    expect(zsh.stdout).toContain("'runs:Your recent executions");
    const fish = await runCli(["completion", "fish"], { cwd: dir });
    expect(fish.stdout).toContain("complete -c spell -n '__fish_use_subcommand' -a logout");
    expect(fish.stdout).toContain("-l idempotency-key");
    const other = await runCli(["completion", "powershell"], { cwd: dir });
    expect(other.code).toBe(2);
  });
});
