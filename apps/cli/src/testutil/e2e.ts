import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLI_DIR = fileURLToPath(new URL("../../", import.meta.url));
const API_MAIN = fileURLToPath(new URL("../../../server/src/main.ts", import.meta.url));
const BIN = join(CLI_DIR, "bin", "dev.js");
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real server in a child process and the real `bin/spell.js`, as a person meets them. */
export interface E2E {
  /** The CLI's working directory (relative `--file`/`--out` paths resolve here). */
  workDir: string;
  apiUrl: string;
  /** Everything the server printed so far. */
  serverLog(): string;
  spell(args: string[], env?: Record<string, string>, options?: { stdin?: string }): Promise<CliRun>;
  /**
   * `spell <args> | head -c <bytes>` through bash with pipefail: `code` is the CLI's own exit
   * status (141 if SIGPIPE killed it), `stderr` what it printed on its way out.
   */
  spellIntoHead(args: string[], bytes: number): Promise<CliRun>;
  close(): Promise<void>;
}

/**
 * Starts `apps/server/src/main.ts` on a free port with a temporary data dir (DATABASE_URL when set, else
 * the embedded Postgres), plus `serverEnv`, and resolves once it prints its "listening on" line.
 */
export async function startE2E(
  prefix: string,
  /** `embedded`: the server runs on its embedded database even when DATABASE_URL is set. */
  options: { serverEnv?: Record<string, string>; embedded?: boolean } = {},
): Promise<E2E> {
  const tmp = await mkdtemp(join(tmpdir(), prefix));
  const workDir = join(tmp, "work");
  const dataDir = join(tmp, "data");
  await mkdir(workDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    SPELL_DATA_DIR: dataDir,
    ...options.serverEnv,
  };
  delete env.SPELL_TRUSTED_ISSUERS;
  if (options.embedded) delete env.DATABASE_URL;
  delete env.NODE_ENV;
  const server = spawn(process.execPath, ["--import", TSX_LOADER, API_MAIN], {
    cwd: CLI_DIR,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(log);
      if (match?.[1]) resolve(match[1]);
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.once("exit", (code) => reject(new Error(`server exited with ${code} before listening:\n${log}`)));
  });

  const cliEnv = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? "",
    HOME: tmp,
    XDG_CONFIG_HOME: join(tmp, "xdg"),
    SPELL_API_URL: apiUrl,
    SPELL_DATA_DIR: dataDir,
  });

  return {
    workDir,
    apiUrl,
    serverLog: () => log,
    spell: (args, extraEnv = {}, options = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          [BIN, ...args],
          {
            cwd: workDir,
            env: { ...cliEnv(), ...extraEnv },
            encoding: "utf8",
            timeout: 30_000,
          },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
        if (options.stdin !== undefined) child.stdin?.end(options.stdin);
        else child.stdin?.end();
      }),
    spellIntoHead: (args, bytes) =>
      new Promise((resolve) => {
        const quoted = [process.execPath, BIN, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`);
        execFile(
          "bash",
          ["-c", `set -o pipefail; ${quoted.join(" ")} | head -c ${bytes} > /dev/null`],
          { cwd: workDir, env: cliEnv(), encoding: "utf8", timeout: 30_000 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      }),
    async close() {
      if (server.exitCode === null) {
        const exited = new Promise((resolve) => server.once("exit", resolve));
        server.kill("SIGTERM");
        await exited;
      }
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
