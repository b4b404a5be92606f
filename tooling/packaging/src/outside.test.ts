import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadOrCreateDevIssuer } from "@spell/auth/dev";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The packages as a stranger meets them: packed into tarballs, installed with npm into a folder
 * outside the repository, and used there with plain Node, plain tsc and the installed `spell` bin,
 * against the server started from its built JavaScript (`node apps/server/dist/main.js`).
 */
const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const TSC = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const PACKED = ["packages/contracts", "packages/sdk", "apps/cli"];

let outside: string;
let server: ChildProcess;
let baseUrl: string;
let token: string;

async function startBuiltServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", HOST: "127.0.0.1", SPELL_DATA_DIR: dataDir };
  // The built server must start without the workspace's source condition or a TypeScript loader.
  delete env.NODE_OPTIONS;
  delete env.SPELL_TRUSTED_ISSUERS;
  delete env.NODE_ENV;
  const child = spawn(process.execPath, [join(REPO, "apps/server/dist/main.js")], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(log);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`built server exited with ${code}:\n${log}`)));
  });
  return { child, url };
}

/** Runs a command in the outside folder with an environment that knows nothing of the workspace. */
async function outsideRun(file: string, args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: outside, ...env };
  return run(file, args, { cwd: outside, env: clean, maxBuffer: 16 * 1024 * 1024 });
}

beforeAll(async () => {
  outside = await mkdtemp(join(tmpdir(), "spell-outside-"));
  const tarballs = join(outside, "tarballs");
  for (const dir of PACKED) {
    await run("pnpm", ["pack", "--pack-destination", tarballs], { cwd: join(REPO, dir) });
  }
  const files = (await readdir(tarballs)).map((name) => join(tarballs, name));
  await writeFile(
    join(outside, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  // @types/node, as a Node consumer has it: the "without lib dom" projects get fetch's types there.
  const install = ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];
  await outsideRun("npm", [...install, ...files, "@types/node@20"], {
    npm_config_cache: join(process.env.HOME ?? tmpdir(), ".npm"),
  });

  const dataDir = join(outside, "server-data");
  const started = await startBuiltServer(dataDir);
  server = started.child;
  baseUrl = started.url;
  const issuer = await loadOrCreateDevIssuer(dataDir);
  token = await issuer.mintToken({ sub: "stranger" });
});

afterAll(async () => {
  server?.kill("SIGTERM");
  if (outside) await rm(outside, { recursive: true, force: true });
});

describe("@spell/sdk installed from its tarball", () => {
  it("ships built JavaScript and declarations only: no sources, tests or workspace config", async () => {
    const { stdout } = await run("tar", [
      "-tzf",
      join(
        outside,
        "tarballs",
        (await readdir(join(outside, "tarballs"))).find((n) => n.includes("sdk")) ?? "",
      ),
    ]);
    const entries = stdout.trim().split("\n");
    expect(entries).toContain("package/dist/index.js");
    expect(entries).toContain("package/dist/index.d.ts");
    expect(entries.filter((entry) => /\.ts$/.test(entry) && !entry.endsWith(".d.ts"))).toEqual([]);
    expect(entries.filter((entry) => /test|\.turbo|tsconfig/.test(entry))).toEqual([]);
  });

  it("runs echo@v1 from a plain Node ESM script", async () => {
    await writeFile(
      join(outside, "run.mjs"),
      [
        'import { createSpellClient, SpellError } from "@spell/sdk";',
        "const client = createSpellClient({ baseUrl: process.env.BASE_URL, token: process.env.TOKEN });",
        'const result = await client.execute("echo@v1", { hello: "outside" });',
        'const missing = await client.execute("nope@v1").catch((error) => error);',
        "console.log(JSON.stringify({ result, missing: missing instanceof SpellError ? missing.code : String(missing) }));",
      ].join("\n"),
    );
    const { stdout } = await outsideRun(process.execPath, ["run.mjs"], { BASE_URL: baseUrl, TOKEN: token });
    const answer = JSON.parse(stdout);
    expect(answer.result).toMatchObject({
      ok: true,
      output: { hello: "outside" },
      spell: { slug: "echo@v1" },
    });
    expect(answer.missing).toBe("SPELL_NOT_FOUND");
  });

  const consumer = [
    'import { createSpellClient, isExecuteAccepted, isSpellError, type ExecuteResult, type SpellError } from "@spell/sdk";',
    'const client = createSpellClient({ baseUrl: "http://127.0.0.1:8787", token: "t" });',
    "export async function main(): Promise<string> {",
    "  try {",
    '    const result: ExecuteResult = await client.execute("echo@v1", { a: 1 }, { idempotencyKey: "k1" });',
    "    const charged: boolean = result.billing.charged;",
    "    return result.executionId + String(charged);",
    "  } catch (error) {",
    "    if (isSpellError(error)) {",
    "      const failure: SpellError = error;",
    '      if (failure.code === "PAYMENT_METHOD_REQUIRED") return "add a card";',
    "      // @ts-expect-error: not one of Spell's error codes, so the typed union refuses it",
    '      if (failure.code === "NO_SUCH_CODE") return "never";',
    "      return failure.code;",
    "    }",
    "    throw error;",
    "  }",
    "}",
    "export async function later(): Promise<string> {",
    '  const answer = await client.execute("echo@v1", {}, { respondAsync: true, cancelAfter: 30 });',
    "  if (isExecuteAccepted(answer)) {",
    "    const seen: string[] = [];",
    "    const onUpdate = (execution: { status: string }) => void seen.push(execution.status);",
    "    const done = await client.executions.wait(answer.executionId, { timeoutMs: 5000, onUpdate });",
    "    return done.execution.status + answer.location;",
    "  }",
    "  // @ts-expect-error: an accepted execution has no output, so the union must be narrowed first",
    '  const unnarrowed = (await client.execute("echo@v1", {}, { wait: 5 })).output;',
    "  // @ts-expect-error: wait and respondAsync are exclusive",
    '  await client.execute("echo@v1", {}, { wait: 1, respondAsync: true });',
    "  return String(answer.output) + String(unnarrowed);",
    "}",
  ].join("\n");

  it.each([
    [
      "node16 without lib dom (a Node project)",
      { module: "node16", moduleResolution: "node16", lib: ["ES2022"], types: ["node"] },
    ],
    [
      "nodenext without lib dom (a Node project)",
      { module: "nodenext", moduleResolution: "nodenext", lib: ["ES2022"], types: ["node"] },
    ],
    [
      "bundler with lib dom and no Node types (a browser project)",
      { module: "esnext", moduleResolution: "bundler", lib: ["ES2022", "DOM"], types: [] },
    ],
  ])("type-checks a consumer with plain tsc (%s, strict)", async (_name, options) => {
    await writeFile(join(outside, "use.ts"), consumer);
    const tsconfig = {
      compilerOptions: { strict: true, noEmit: true, target: "ES2022", ...options },
      files: ["use.ts"],
    };
    await writeFile(join(outside, "tsconfig.json"), JSON.stringify(tsconfig));
    const result = await outsideRun(process.execPath, [TSC, "-p", "tsconfig.json"]).then(
      () => ({ code: 0, out: "" }),
      (error: { code: number; stdout: string }) => ({ code: error.code, out: error.stdout }),
    );
    expect(result.out).toBe("");
    expect(result.code).toBe(0);
  });
});

describe("the installed spell bin", () => {
  it("prints its version", async () => {
    const { stdout } = await outsideRun(join(outside, "node_modules/.bin/spell"), ["--version"]);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("runs echo@v1 against the server", async () => {
    const { stdout } = await outsideRun(
      join(outside, "node_modules/.bin/spell"),
      ["exec", "echo@v1", "--input", '{"hello":"bin"}', "--json"],
      { SPELL_API_URL: baseUrl, SPELL_TOKEN: token },
    );
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, output: { hello: "bin" } });
  });
});
