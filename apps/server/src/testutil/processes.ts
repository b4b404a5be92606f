import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ADMIN_ISSUER, USER_ISSUER } from "./harness.ts";

/**
 * Real API processes (`src/main.ts`, as `pnpm start` runs it) for the tests that need what no
 * in-process instance shows: two processes on one Postgres, a SIGTERM drain, a SIGKILL mid-run.
 * Each process is started from a clean environment (nothing of the test runner's leaks in).
 */

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** The user and admin test issuers in one namespace, as the harness trusts them. */
export const TRUSTED_ISSUERS_ENV = JSON.stringify([
  { issuer: USER_ISSUER.issuer, secret: USER_ISSUER.secret, namespace: "" },
  { issuer: ADMIN_ISSUER.issuer, secret: ADMIN_ISSUER.secret, admin: true, namespace: "" },
]);

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ApiProcess {
  /** `http://127.0.0.1:<port>` the process announced. */
  url: string;
  child: ChildProcess;
  /** What the process wrote to stdout and stderr so far (the first `logLimit` characters). */
  log(): string;
  /** Resolves once the process has exited (at once if it already has). */
  exited: Promise<ProcessExit>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

export interface ApiProcessOptions {
  /** Added to `PATH NODE_ENV=test PORT=0 HOST=127.0.0.1 SPELL_TRUSTED_ISSUERS=<test issuers>`. */
  env: Record<string, string>;
  /** Characters of output kept for `log()` (default 100 000). */
  logLimit?: number;
}

/** Spawns `src/main.ts` and resolves when it logs `listening on <url>`; rejects if it exits first. */
export function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const limit = options.logLimit ?? 100_000;
  const child = spawn(process.execPath, ["--conditions=@spell/source", "--import", TSX, MAIN], {
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      SPELL_TRUSTED_ISSUERS: TRUSTED_ISSUERS_ENV,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  const stop = (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    const onData = (chunk: Buffer) => {
      if (log.length < limit) log += chunk.toString();
      const match = url === undefined ? /listening on (http:\/\/\S+)/.exec(log) : null;
      if (match?.[1]) {
        url = match[1];
        resolve({ url, child, log: () => log, exited, stop });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(({ code, signal }) => {
      if (url === undefined) reject(new Error(`api exited with ${signal ?? code} before listening:\n${log}`));
    });
  });
}

/** Stops every process still running (SIGTERM, then SIGKILL after `graceMs`), for `afterAll`. */
export async function stopApiProcesses(processes: ApiProcess[], graceMs = 20_000): Promise<void> {
  await Promise.all(
    processes.map(async (started) => {
      const timer = setTimeout(() => started.child.kill("SIGKILL"), graceMs);
      await started.stop("SIGTERM");
      clearTimeout(timer);
    }),
  );
}

/** API processes sharing one temporary SPELL_DATA_DIR, stopped and removed together. */
export interface ApiProcessGroup {
  dataDir: string;
  /** Every process the group started, in order (stopped ones too). */
  processes: ApiProcess[];
  /** Starts a process with the group's `SPELL_DATA_DIR` and `env`. */
  start(env: Record<string, string>): Promise<ApiProcess>;
  /** Stops what still runs (as `stopApiProcesses`), then removes the directory: for `afterAll`. */
  close(graceMs?: number): Promise<void>;
}

/** A new group whose data directory is a fresh temporary one named `prefix…`. */
export async function createApiProcessGroup(prefix: string): Promise<ApiProcessGroup> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const processes: ApiProcess[] = [];
  return {
    dataDir,
    processes,
    async start(env) {
      const started = await startApiProcess({ env: { ...env, SPELL_DATA_DIR: dataDir } });
      processes.push(started);
      return started;
    },
    async close(graceMs) {
      await stopApiProcesses(processes, graceMs);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
