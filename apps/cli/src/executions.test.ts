import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT } from "./context.ts";
import { fail, fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";
import { bashComplete } from "./testutil/completion.ts";
import { recentRun } from "./testutil/fixtures.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const ID = "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001";
const accepted = {
  ok: true,
  executionId: ID,
  status: "queued",
  spell: { slug: "echo@v1", runtime: "builtin" },
  location: `/api/executions/get?id=${ID}`,
};
const result = {
  ok: true,
  executionId: ID,
  spell: { slug: "echo@v1", runtime: "builtin" },
  output: { hello: "world" },
  billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
  durationMs: 4,
};

function execution(status: string, overrides: object = {}) {
  const finished = ["succeeded", "failed", "canceled"].includes(status);
  return {
    executionId: ID,
    status,
    spell: { slug: "echo-paid@v1", runtime: "builtin" },
    output: status === "succeeded" ? { hello: "world" } : null,
    billing: finished
      ? status === "succeeded"
        ? { charged: true, amount: 50, currency: "usd", billingRecordId: "br_1" }
        : { charged: false, status: "not_charged", amount: 50, currency: "usd", billingRecordId: null }
      : null,
    error:
      status === "canceled"
        ? {
            code: "EXECUTION_CANCELED",
            message: "The execution was canceled; you were not charged",
            details: {},
          }
        : null,
    durationMs: status === "succeeded" ? 12 : null,
    createdAt: "2026-12-01T15:00:00.000Z",
    finishedAt: finished ? "2026-12-01T15:00:01.000Z" : null,
    ...overrides,
  };
}

/** `executions.get` answers these states in turn (the last one repeated). */
function statesApi(states: Array<ReturnType<typeof execution>>) {
  let index = 0;
  const api = fakeApi((path) => {
    if (path !== "executions.get") return fail("NOT_FOUND", 404, `unexpected ${path}`);
    const state = states[Math.min(index, states.length - 1)];
    index += 1;
    return ok({ ok: true, execution: state });
  });
  const inputs: unknown[] = [];
  const fetch = (url: string, init?: RequestInit) => {
    inputs.push(JSON.parse(new URL(url).searchParams.get("input") ?? "null"));
    return api.fetch(url, init);
  };
  return { ...api, fetch, inputs };
}

describe("spell exec --async / --wait", () => {
  it("--async sends Prefer: respond-async (and Cancel-After) and prints the execution id, the status on stderr", async () => {
    const api = fakeApi(() => ok(accepted));
    const res = await runCli(["exec", "echo@v1", "--async", "--cancel-after", "30"], {
      cwd: dir,
      fetch: api.fetch,
    });
    expect(res.code).toBe(EXIT.ok);
    expect(res.stdout).toBe(`${ID}\n`);
    expect(res.stderr).toBe(`echo@v1 · queued · follow it: spell runs wait ${ID}\n`);
    expect(api.sent[0]?.path).toBe("spell.execute");
    expect(api.sent[0]?.headers.get("prefer")).toBe("respond-async");
    expect(api.sent[0]?.headers.get("cancel-after")).toBe("30");

    const json = await runCli(["exec", "echo@v1", "--async", "--json"], { cwd: dir, fetch: api.fetch });
    expect(json.code).toBe(EXIT.ok);
    expect(JSON.parse(json.stdout)).toEqual(accepted);
    expect(json.stderr).toBe("");
  });

  it("--wait N sends Prefer: wait=N: a result in time prints as usual; one that ran out prints the id and exits 6", async () => {
    const done = fakeApi(() => ok(result));
    const quick = await runCli(["exec", "echo@v1", "--wait", "10"], { cwd: dir, fetch: done.fetch });
    expect(quick.code).toBe(EXIT.ok);
    expect(JSON.parse(quick.stdout)).toEqual({ hello: "world" });
    expect(done.sent[0]?.headers.get("prefer")).toBe("wait=10");

    const late = fakeApi(() => ok({ ...accepted, status: "running" }));
    const slow = await runCli(["exec", "echo@v1", "--wait", "1"], { cwd: dir, fetch: late.fetch });
    expect(slow.code).toBe(EXIT.pending);
    expect(slow.stdout).toBe(`${ID}\n`);
    expect(slow.stderr).toContain("running · follow it: spell runs wait");
  });

  it("refuses a bad --wait, --async with --wait, and --cancel-after alone, before any request", async () => {
    const api = fakeApi(() => ok(result));
    for (const argv of [
      ["exec", "echo@v1", "--wait", "61"],
      ["exec", "echo@v1", "--wait", "soon"],
      ["exec", "echo@v1", "--async", "--wait", "5"],
      ["exec", "echo@v1", "--cancel-after", "5"],
      ["exec", "echo@v1", "--async", "--cancel-after", "-1"],
    ]) {
      const res = await runCli(argv, { cwd: dir, fetch: api.fetch });
      expect(res.code, argv.join(" ")).toBe(EXIT.usage);
      expect(res.stderr).toMatch(/^error USAGE: /);
    }
    expect(api.sent).toEqual([]);
  });

  it("without the flags sends no Prefer header", async () => {
    const api = fakeApi(() => ok(result));
    await runCli(["exec", "echo@v1"], { cwd: dir, fetch: api.fetch });
    expect(api.sent[0]?.headers.get("prefer")).toBeNull();
  });
});

describe("spell runs get|cancel|wait", () => {
  it("runs get reads executions.get and prints status, cost and output; --json the raw answer", async () => {
    const api = statesApi([execution("succeeded")]);
    const res = await runCli(["runs", "get", ID], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(EXIT.ok);
    expect(api.sent[0]?.path).toBe("executions.get");
    expect(api.inputs[0]).toEqual({ id: ID });
    expect(res.stdout).toMatch(new RegExp(`^execution\\s+${ID}$`, "m"));
    expect(res.stdout).toMatch(/^status\s+succeeded$/m);
    expect(res.stdout).toMatch(/^cost\s+\$0\.50 \(br_1\)$/m);
    expect(res.stdout).toContain('"hello": "world"');
    const json = await runCli(["runs", "get", ID, "--json"], { cwd: dir, fetch: api.fetch });
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, execution: execution("succeeded") });
  });

  it("runs get on a server without the job engine falls back to the recent runs of me", async () => {
    const recent = recentRun({ executionId: ID, createdAt: "2026-12-01T15:00:00.000Z" });
    const api = fakeApi((path) =>
      path === "executions.get"
        ? fail("SERVICE_UNAVAILABLE", 503, "Asynchronous executions are not available", {
            reason: "async_unavailable",
          })
        : ok({
            ok: true,
            user: {
              id: "u",
              status: "active",
              hasPaymentMethod: false,
              createdAt: "2026-12-01T00:00:00.000Z",
            },
            usage: { totalExecutions: 1, totalCharged: [], recent: [recent] },
          }),
    );
    const res = await runCli(["runs", "get", ID], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(EXIT.ok);
    expect(api.sent.map((sent) => sent.path)).toEqual(["executions.get", "me"]);
    expect(res.stdout).toMatch(/^status\s+succeeded$/m);
  });

  it("runs cancel prints the canceled run and exits 0; one that had already finished exits 1", async () => {
    const canceled = fakeApi(() => ok({ ok: true, execution: execution("canceled") }));
    const res = await runCli(["runs", "cancel", ID], { cwd: dir, fetch: canceled.fetch });
    expect(res.code).toBe(EXIT.ok);
    expect(canceled.sent[0]?.path).toBe("executions.cancel");
    expect(canceled.sent[0]?.body).toEqual({ id: ID });
    expect(res.stdout).toBe(`canceled ${ID} (not charged)\n`);

    const late = fakeApi(() => ok({ ok: true, execution: execution("succeeded") }));
    const already = await runCli(["runs", "cancel", ID], { cwd: dir, fetch: late.fetch });
    expect(already.code).toBe(EXIT.other);
    expect(already.stderr).toBe(`${ID} had already succeeded; nothing to cancel\n`);

    const missing = fakeApi(() => fail("NOT_FOUND", 404, "No such execution", { executionId: ID }));
    const unknown = await runCli(["runs", "cancel", ID, "--json"], { cwd: dir, fetch: missing.fetch });
    expect(unknown.code).toBe(EXIT.other);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });

  it("runs wait prints a line per status off a terminal, then the output, and exits 0", async () => {
    const api = statesApi([execution("queued"), execution("running"), execution("succeeded")]);
    const res = await runCli(["runs", "wait", ID], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(EXIT.ok);
    expect(JSON.parse(res.stdout)).toEqual({ hello: "world" });
    const lines = res.stderr.trimEnd().split("\n");
    expect(lines.slice(0, 2)).toEqual([`${ID} queued`, `${ID} running`]);
    expect(lines[2]).toBe(`echo-paid@v1 · builtin · 12 ms · $0.50 (br_1) · ${ID}`);
  });

  it("runs wait exits with the run's outcome: 5 canceled, the error's class when failed, 6 still running", async () => {
    const canceled = await runCli(["runs", "wait", ID], {
      cwd: dir,
      fetch: statesApi([execution("canceled")]).fetch,
    });
    expect(canceled.code).toBe(EXIT.canceled);
    expect(canceled.stderr).toMatch(/^error EXECUTION_CANCELED: The execution was canceled/);

    const failure = (code: string) =>
      execution("failed", { error: { code, message: `it failed with ${code}`, details: {} } });
    const runtime = await runCli(["runs", "wait", ID], {
      cwd: dir,
      fetch: statesApi([failure("RUNTIME_ERROR")]).fetch,
    });
    expect(runtime.code).toBe(EXIT.other);
    expect(runtime.stderr).toContain("error RUNTIME_ERROR: it failed with RUNTIME_ERROR");
    const payment = await runCli(["runs", "wait", ID, "--json"], {
      cwd: dir,
      fetch: statesApi([failure("BILLING_FAILED")]).fetch,
    });
    expect(payment.code).toBe(EXIT.payment);
    expect(JSON.parse(payment.stdout)).toMatchObject({ ok: true, execution: { status: "failed" } });
    expect(payment.stderr).toBe("");

    const pending = await runCli(["runs", "wait", ID, "--timeout", "0"], {
      cwd: dir,
      fetch: statesApi([execution("running")]).fetch,
    });
    expect(pending.code).toBe(EXIT.pending);
    expect(pending.stderr).toContain(`${ID} is still running after 0s; wait again: spell runs wait ${ID}`);
  });

  it("runs wait shows a spinner with the status on a terminal, and clears it", async () => {
    const api = statesApi([
      execution("queued"),
      execution("queued"),
      execution("queued"),
      execution("succeeded"),
    ]);
    const res = await runCli(["runs", "wait", ID], { cwd: dir, fetch: api.fetch, tty: true });
    expect(res.code).toBe(EXIT.ok);
    expect(res.stderr).toMatch(new RegExp(`queued ${ID}… \\d+\\.\\ds`));
    expect(res.stderr).not.toContain(`${ID} queued\n`);
  });

  it("spell runs still lists, and spell runs list is the same command", async () => {
    const me = {
      ok: true,
      user: { id: "u", status: "active", hasPaymentMethod: false, createdAt: "2026-12-01T00:00:00.000Z" },
      usage: { totalExecutions: 0, totalCharged: [], recent: [] },
    };
    const api = fakeApi(() => ok(me));
    const bare = await runCli(["runs"], { cwd: dir, fetch: api.fetch });
    const list = await runCli(["runs", "list", "--json"], { cwd: dir, fetch: api.fetch });
    expect(bare).toMatchObject({ code: 0, stdout: "no executions yet\n" });
    expect(JSON.parse(list.stdout)).toEqual({ ok: true, executions: [] });
  });
});

describe("completion and help", () => {
  const complete = (line: string[]) => bashComplete(line, dir);

  it("completes runs' subcommands and exec's asynchronous flags", async () => {
    expect(await complete(["spell", "runs", ""])).toEqual(
      expect.arrayContaining(["list", "get", "cancel", "wait"]),
    );
    expect(await complete(["spell", "runs", "wait", "--t"])).toEqual(["--timeout"]);
    expect(await complete(["spell", "exec", "echo@v1", "--as"])).toEqual(["--async"]);
    expect(await complete(["spell", "exec", "echo@v1", "--ca"])).toEqual(["--cancel-after"]);
  });

  it("help names the subcommands and the exit codes", async () => {
    const help = await runCli(["runs", "--help"], { cwd: dir });
    expect(help.code).toBe(0);
    for (const word of ["list", "get", "cancel", "wait"])
      expect(help.stdout).toMatch(new RegExp(`^  ${word}\\b`, "m"));
    const wait = await runCli(["runs", "wait", "--help"], { cwd: dir });
    expect(wait.stdout).toContain("exits 0 if it succeeded");
    expect(wait.stdout).toContain("Exit codes: 0 succeeded, 5 canceled, 6 still running at --timeout");
  });
});
