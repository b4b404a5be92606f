import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** A process's sandbox children (`sandbox.mjs`), as the operating system lists them. */
export function sandboxPids(parentPid: number = process.pid): number[] {
  let listing = "";
  try {
    listing = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(parentPid)], { encoding: "utf8" });
  } catch {
    // `ps` exits 1 when there is no child at all.
  }
  return listing
    .split("\n")
    .filter((line) => line.includes("sandbox.mjs"))
    .map((line) => Number.parseInt(line.trim(), 10));
}

/** CPU ticks a process has used (`/proc/<pid>/stat` utime + stime); -1 once it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return -1;
  }
}
