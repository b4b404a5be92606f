import { execFileSync, spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The Lua script every wrk run uses (token rotation from a file, a JSON summary on stdout). */
export const WRK_LUA = join(fileURLToPath(new URL(".", import.meta.url)), "wrk.lua");

/** Kernel clock ticks per second (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds a process has used so far (utime + stime from `/proc/<pid>/stat`). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICK;
}

/** `/proc/<pid>/stat`'s fields after the command (state is [0], ppid [1], utime [11], stime [12]). */
async function statFields(pid: string): Promise<string[] | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null; // exited meanwhile
  }
}

/** CPU seconds per process at one instant: `pid` with its direct children, and PostgreSQL's. */
export interface CpuSnapshot {
  tree: Map<string, number>;
  postgres: Map<string, number>;
}

/**
 * CPU seconds of `pid` and its direct children (the app's wasm sandbox processes), and of every
 * PostgreSQL process on the machine (the server is shared: other databases' work counts too, which
 * the bench keeps away by running alone). One pass over `/proc`; see `cpuBetween`.
 */
export async function cpuTree(pid: number): Promise<CpuSnapshot> {
  const tree = new Map<string, number>();
  const postgres = new Map<string, number>();
  const own = String(pid);
  for (const entry of await readdir("/proc")) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const fields = await statFields(entry);
    if (!fields) continue;
    const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICK;
    if (entry === own || fields[1] === own) tree.set(entry, seconds);
    else if ((await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "")).trim() === "postgres") {
      postgres.set(entry, seconds);
    }
  }
  return { tree, postgres };
}

/**
 * CPU seconds used between two snapshots: each process's growth, a process that started meanwhile
 * counted whole; one that exited meanwhile is lost (its last seconds cannot be read any more).
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): { tree: number; postgres: number } {
  const grown = (a: Map<string, number>, b: Map<string, number>) => {
    let sum = 0;
    for (const [pid, seconds] of b) sum += Math.max(0, seconds - (a.get(pid) ?? 0));
    return sum;
  };
  return { tree: grown(before.tree, after.tree), postgres: grown(before.postgres, after.postgres) };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * One wrk run (one thread, in its own process) against `url` with `WRK_LUA`; `env` carries the
 * script's settings (BENCH_TOKENS, BENCH_PATH, BENCH_BODY…). Resolves with wrk's stdout.
 */
export function runWrk(options: {
  url: string;
  connections: number;
  durationSeconds: number;
  env: NodeJS.ProcessEnv;
}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const proc = spawn(
      "wrk",
      [
        "-t1",
        `-c${options.connections}`,
        `-d${options.durationSeconds}s`,
        "--timeout",
        "10s",
        "-s",
        WRK_LUA,
        options.url,
      ],
      { env: options.env, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.once("error", reject);
    proc.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`)),
    );
  });
}
