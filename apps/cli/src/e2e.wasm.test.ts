import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The wasm quick start as a person meets it: the real server (`apps/api/src/main.ts`, wasm demos
 * seeded) in a child process and the real `bin/spell.js`. Uses DATABASE_URL when set, else the
 * embedded Postgres.
 */

const CLI_DIR = fileURLToPath(new URL("../", import.meta.url));
const API_MAIN = fileURLToPath(new URL("../../api/src/main.ts", import.meta.url));
const BIN = join(CLI_DIR, "bin", "spell.js");
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
/** The committed C echo example (`packages/engine/wasm/examples/echo.c`). */
const ECHO_WASM = fileURLToPath(new URL("../../../packages/engine/wasm/bin/echo-c.wasm", import.meta.url));

let tmp: string;
let server: ChildProcess | undefined;
let serverLog = "";
let apiUrl: string;

/** Starts the server on a free port and resolves with the URL from its "listening on" line. */
async function startServer(dataDir: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: "0", HOST: "127.0.0.1", SPELL_DATA_DIR: dataDir };
  delete env.SPELL_TRUSTED_ISSUERS;
  delete env.NODE_ENV;
  const child = spawn(process.execPath, ["--import", TSX_LOADER, API_MAIN], {
    cwd: CLI_DIR,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server = child;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      serverLog += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(serverLog);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`server exited with ${code} before listening:\n${serverLog}`)),
    );
  });
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function spellCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: join(tmp, "work"),
        env: {
          PATH: process.env.PATH ?? "",
          HOME: tmp,
          XDG_CONFIG_HOME: join(tmp, "xdg"),
          SPELL_API_URL: apiUrl,
          SPELL_DATA_DIR: join(tmp, "data"),
          ...env,
        },
        encoding: "utf8",
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "spell-e2e-wasm-"));
  await mkdir(join(tmp, "work"));
  apiUrl = await startServer(join(tmp, "data"));
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  await rm(tmp, { recursive: true, force: true });
}, 30_000);

describe("spell CLI runs wasm spells on a real server", () => {
  const user = `e2e-wasm-${randomBytes(4).toString("hex")}`;

  it("logs in with the dev issuer and runs the wordcount@v1 demo", async () => {
    const login = await spellCli(["login", "--dev", "--sub", user]);
    expect(login).toMatchObject({ code: 0, stderr: "" });

    const counted = await spellCli(["exec", "wordcount@v1", "--input", '{"text":"the cat the hat"}']);
    expect(counted.code).toBe(0);
    expect(JSON.parse(counted.stdout)).toEqual({
      words: 4,
      lines: 1,
      chars: 15,
      top: [
        { word: "the", count: 2 },
        { word: "cat", count: 1 },
        { word: "hat", count: 1 },
      ],
    });
    expect(counted.stderr).toMatch(/^wordcount@v1 · wasm · \d+ ms · not charged · /);
  }, 60_000);

  it("lists the wasm demos in spell ls", async () => {
    const ls = await spellCli(["ls"]);
    expect(ls).toMatchObject({ code: 0, stderr: "" });
    for (const slug of ["wordcount@v1", "echo-c@v1", "echo-rust@v1", "echo-as@v1"]) {
      expect(ls.stdout).toMatch(new RegExp(`^${slug} +wasm +public +free`, "m"));
    }
  }, 60_000);

  it("publishes the committed echo binary as an admin and runs it", async () => {
    const slug = `mine-${randomBytes(3).toString("hex")}@v1`;
    const minted = await spellCli(["token", "--dev", "--admin", "--sub", `${user}-admin`]);
    expect(minted.code).toBe(0);
    const admin = { SPELL_TOKEN: minted.stdout.trim() };

    const published = await spellCli(
      ["admin", "publish", "--slug", slug, "--runtime", "wasm", "--wasm", ECHO_WASM],
      admin,
    );
    expect(published).toMatchObject({ code: 0, stderr: "" });
    expect(published.stdout).toMatch(new RegExp(`^published ${slug} \\(wasm, public, free\\) artifact `));

    const echoed = await spellCli(["exec", slug, "--input", '{"mine":[1,"two"]}']);
    expect(echoed.code).toBe(0);
    expect(JSON.parse(echoed.stdout)).toEqual({ echo: { mine: [1, "two"] } });
    expect(echoed.stderr).toMatch(new RegExp(`^${slug} · wasm · `));
  }, 60_000);
});
