import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { runCli } from "../testing/harness.ts";

/**
 * The words bash completion offers for `line` (its last word the one being completed): the script
 * `spell completion bash` prints, sourced in a real bash with COMP_WORDS/COMP_CWORD set as bash sets them.
 */
export async function bashComplete(line: string[], cwd: string): Promise<string[]> {
  const script = (await runCli(["completion", "bash"], { cwd })).stdout;
  const words = line.map((word) => `'${word}'`).join(" ");
  const { stdout } = await promisify(execFile)("bash", [
    "-c",
    `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _spell_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return stdout.split("\n").filter((word) => word !== "");
}
