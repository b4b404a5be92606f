import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fail, fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";

const result = (output: unknown) => ({
  ok: true,
  executionId: "exe_1",
  spell: { slug: "resize@v1", runtime: "builtin" },
  output,
  billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
  durationMs: 7,
});

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

describe("spell exec", () => {
  it("sends the slug and the --input object with the saved token and prints the output", async () => {
    const api = fakeApi(() => ok(result({ hello: "world" })));
    const res = await runCli(["exec", "echo@v1", "--input", '{"hello":"world"}'], {
      cwd: dir,
      env: { SPELL_TOKEN: "tok" },
      fetch: api.fetch,
    });

    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ hello: "world" });
    expect(res.stderr).toContain("not charged");
    expect(api.sent[0]?.path).toBe("spell.execute");
    expect(api.sent[0]?.headers.get("authorization")).toBe("Bearer tok");
    expect(api.sent[0]?.body).toEqual({ spell: "echo@v1", input: { hello: "world" } });
  });

  it("--json prints the whole result as one JSON document and nothing on stderr", async () => {
    const api = fakeApi(() => ok(result({ a: 1 })));
    const res = await runCli(["exec", "echo@v1", "--json", "-k", "key-1"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(result({ a: 1 }));
    expect(res.stderr).toBe("");
    expect(api.sent[0]?.body).toEqual({ spell: "echo@v1", input: {}, idempotencyKey: "key-1" });
  });

  it("reads --input @file relative to INIT_CWD, where pnpm records the user's directory", async () => {
    await mkdir(join(dir, "user"));
    await writeFile(join(dir, "user", "in.json"), '{"width":64}');
    const api = fakeApi(() => ok(result({})));
    const res = await runCli(["exec", "echo@v1", "--input", "@in.json"], {
      cwd: join(dir, "elsewhere"),
      env: { INIT_CWD: join(dir, "user") },
      fetch: api.fetch,
    });
    expect(res.code).toBe(0);
    expect(api.sent[0]?.body).toEqual({ spell: "echo@v1", input: { width: 64 } });
  });

  it("--file puts the file's base64 into the input field; --out writes the decoded field and prints the rest", async () => {
    const photo = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255]);
    const small = Buffer.from([9, 8, 7]);
    await writeFile(join(dir, "photo.png"), photo);
    const api = fakeApi(() =>
      ok(result({ image: small.toString("base64"), format: "png", width: 64, height: 32, bytes: 3 })),
    );

    const resize = () =>
      runCli(
        [
          "exec",
          "resize@v1",
          "--input",
          '{"width":64}',
          "--file",
          "image=photo.png",
          "--out",
          "image=out/small.png",
        ],
        {
          cwd: dir,
          fetch: api.fetch,
        },
      );
    const res = await resize();
    // The output directory does not exist: the CLI reports it rather than crashing.
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error FILE_UNWRITABLE: cannot write .*out\/small\.png: ENOENT/);

    await mkdir(join(dir, "out"));
    const again = await resize();
    expect(again.code).toBe(0);
    expect(api.sent[1]?.body).toEqual({
      spell: "resize@v1",
      input: { width: 64, image: photo.toString("base64") },
    });
    expect(await readFile(join(dir, "out", "small.png"))).toEqual(small);
    expect(JSON.parse(again.stdout)).toEqual({ format: "png", width: 64, height: 32, bytes: 3 });
    expect(again.stderr).toContain(`wrote output.image to ${join(dir, "out", "small.png")} (3 bytes)`);
  });

  it("fails with OUTPUT_FIELD_MISSING when --out names a field the output lacks", async () => {
    const api = fakeApi(() => ok(result({ text: "hi" })));
    const res = await runCli(["exec", "echo@v1", "--out", "image=x.png"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'error OUTPUT_FIELD_MISSING: the output has no base64 string field "image" (fields: text)\n',
    );
  });

  it.each([
    [["exec", "echo@v1", "--input", "[1,2]"], "--input must be a JSON object"],
    [["exec", "echo@v1", "--input", "{nope"], "--input is not valid JSON"],
    [["exec", "echo@v1", "--file", "image"], "--file expects field=path"],
    [["exec", "echo@v1", "--out", "=x.png"], "--out expects field=path"],
    [["exec", "echo@v1", "--input", "@missing.json"], "cannot read input file"],
  ])("refuses %j before calling the API (exit 2)", async (argv, message) => {
    const api = fakeApi(() => ok(result({})));
    const res = await runCli(argv, { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(api.sent).toHaveLength(0);
  });
});

describe("errors from the API", () => {
  it.each([
    ["UNAUTHORIZED", 401, 3],
    ["USER_BANNED", 403, 3],
    ["VISIBILITY_DENIED", 403, 3],
    ["PAYMENT_METHOD_REQUIRED", 402, 4],
    ["INSUFFICIENT_BALANCE", 402, 4],
    ["SPEND_LIMIT_REACHED", 402, 4],
    ["SPELL_NOT_FOUND", 404, 1],
    ["RUNTIME_ERROR", 502, 1],
  ] as const)("prints %s and its details to stderr and exits %i→%i", async (code, status, exitCode) => {
    const api = fakeApi(() => fail(code, status, `message for ${code}`, { slug: "x@v1" }));
    const res = await runCli(["exec", "x@v1"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(exitCode);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(
      new RegExp(`^error ${code}: message for ${code}\n  details: \\{"slug":"x@v1"\\}\n`),
    );
  });

  it("lists validation issues by path and exits 2", async () => {
    const api = fakeApi(() =>
      fail("VALIDATION_ERROR", 400, "Invalid input", {
        issues: [{ code: "invalid_format", path: ["spell"], message: "a slug is name@vN" }],
      }),
    );
    const res = await runCli(["exec", "Bad"], { cwd: dir, fetch: api.fetch });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe("error VALIDATION_ERROR: Invalid input\n  spell: a slug is name@vN\n");
  });

  it("reports an unreachable server with a hint and exits 1", async () => {
    const res = await runCli(["ls"], { cwd: dir, env: { SPELL_API_URL: "http://127.0.0.1:9" } });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^error SERVICE_UNAVAILABLE: Spell API unreachable at http:\/\/127\.0\.0\.1:9/,
    );
    expect(res.stderr).toContain("hint: is the server running?");
  });

  it("exits 2 on unknown commands and options, printing commander's message", async () => {
    const unknown = await runCli(["frobnicate"], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const option = await runCli(["exec", "echo@v1", "--nope"], { cwd: dir });
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--nope'");
  });

  it("--help exits 0", async () => {
    const res = await runCli(["exec", "--help"], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("--file <field=path>");
  });
});
