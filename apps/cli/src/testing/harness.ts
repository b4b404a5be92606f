import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SpellFetch } from "@spell/sdk";
import type { CliContext } from "../context.ts";
import { run } from "../program.ts";

export interface Sent {
  path: string;
  headers: Headers;
  body: unknown;
}

/** Answers like the API's tRPC endpoint: `handler` returns the procedure's data or throws an error shape. */
export function fakeApi(handler: (path: string, body: unknown) => { status?: number; json: unknown }) {
  const sent: Sent[] = [];
  const fetch: SpellFetch = async (url, init) => {
    const path = new URL(url).pathname.replace(/^\/trpc\//, "");
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    sent.push({ path, headers: new Headers(init?.headers), body });
    const { status = 200, json } = handler(path, body);
    return new Response(JSON.stringify(json), { status, headers: { "content-type": "application/json" } });
  };
  return { fetch, sent };
}

export const ok = (data: unknown) => ({ json: { result: { data } } });

export const fail = (
  code: string,
  status: number,
  message: string,
  details: Record<string, unknown> = {},
) => ({
  status,
  json: { error: { code: -32600, message, data: { code, httpStatus: status, details } } },
});

/** A temp dir for one test, holding the XDG config dir and the user's working dir. */
export async function tempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "spell-cli-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with an isolated environment. */
export async function runCli(
  argv: string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd: string;
    fetch?: SpellFetch;
    /** What standard input holds (`--input @-`); unset: no standard input. */
    stdin?: string;
    /** Pretend to write to a terminal (colour, spinner). */
    tty?: boolean;
  },
): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const ctx: CliContext = {
    env: { HOME: options.cwd, XDG_CONFIG_HOME: join(options.cwd, "xdg"), ...options.env },
    cwd: options.cwd,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.stdin !== undefined ? { readStdin: async () => options.stdin ?? "" } : {}),
    stdoutIsTTY: options.tty === true,
    stderrIsTTY: options.tty === true,
  };
  const code = await run(argv, ctx);
  return { code, stdout, stderr };
}
