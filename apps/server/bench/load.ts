import { execFileSync, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
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
