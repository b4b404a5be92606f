import type { SpellFetch } from "@spell/sdk";

/** Everything the CLI takes from its surroundings, so tests can run it in-process. */
export interface CliContext {
  env: Record<string, string | undefined>;
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Passed to the SDK; the global fetch when absent. */
  fetch?: SpellFetch;
  /** All of standard input, for `--input @-`; absent: there is none to read. */
  readStdin?: () => Promise<string>;
  /** Terminals get colour and the progress spinner; pipes and files get plain text. */
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
}

/**
 * Exit codes by class of failure, so scripts can tell them apart. `canceled`: the run was canceled
 * (or passed its Cancel-After deadline); `pending`: it had not finished when the CLI stopped waiting.
 */
export const EXIT = { ok: 0, other: 1, usage: 2, auth: 3, payment: 4, canceled: 5, pending: 6 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure found by the CLI itself, before or after talking to the server. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly code: string;
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, exitCode: ExitCode = EXIT.usage) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/**
 * The command has already printed everything (its result or the run's failure) and only the exit
 * code is left to give: `run` returns it without printing an error.
 */
export class ReportedExit extends Error {
  override readonly name = "ReportedExit";
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}
