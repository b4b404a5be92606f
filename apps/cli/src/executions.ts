import type { ErrorCode } from "@spell/contracts";
import { type ExecuteAccepted, type Execution, isSpellError, type SpellClient } from "@spell/sdk";
import type { Command } from "commander";
import { type Paint, paintFor } from "./color.ts";
import { type CliContext, CliError, EXIT, type ExitCode, ReportedExit } from "./context.ts";
import { exitCodeFor, formatPrice, pretty, table } from "./format.ts";
import { findRun, runDetails, runsTable } from "./runs.ts";
import { startSpinner } from "./spinner.ts";

/** The longest `Prefer: wait=N` the server honours, in seconds. */
export const MAX_WAIT_SECONDS = 60;
/** `spell runs wait` gives up after this long by default (the run goes on; wait again). */
const DEFAULT_WAIT_TIMEOUT_SECONDS = 600;

const TERMINAL = new Set<Execution["status"]>(["succeeded", "failed", "canceled"]);

/** A whole number of seconds from a flag, within `[min, max]`. */
export function parseSeconds(flag: string, value: string, max?: number): number {
  if (!/^\d{1,7}$/.test(value) || (max !== undefined && Number(value) > max)) {
    const range =
      max === undefined ? "a whole number of seconds" : `a whole number of seconds from 0 to ${max}`;
    throw new CliError("USAGE", `${flag} takes ${range}, got "${value}"`);
  }
  return Number(value);
}

/** What a run ending this way exits with: 0 succeeded, 5 canceled, the error's class when failed. */
export function exitCodeOf(execution: Execution): ExitCode {
  if (execution.status === "succeeded") return EXIT.ok;
  if (execution.status === "canceled") return EXIT.canceled;
  if (execution.status === "failed") {
    const code = execution.error?.code as ErrorCode | undefined;
    return code === "EXECUTION_CANCELED" ? EXIT.canceled : code ? exitCodeFor(code) : EXIT.other;
  }
  return EXIT.pending;
}

function paintStatus(status: string, paint: Paint): string {
  if (status === "succeeded") return paint.green(status);
  if (status === "failed") return paint.red(status);
  return paint.yellow(status);
}

function costOf(execution: Execution): string {
  const { billing } = execution;
  if (billing === null) return "-";
  if (billing.charged) return `${formatPrice(billing)} (${billing.billingRecordId ?? "no record"})`;
  if (billing.amount === 0) return "free";
  return billing.status === "pending" ? `${formatPrice(billing)} (capture pending)` : "not charged";
}

/** One execution as `spell runs get` prints it. */
export function executionDetails(execution: Execution, paint: Paint): string {
  const rows = [
    ["execution", execution.executionId],
    ["spell", `${execution.spell.slug} (${execution.spell.runtime})`],
    ["status", paintStatus(execution.status, paint)],
    ["created", execution.createdAt],
    ["finished", execution.finishedAt ?? "-"],
    ["duration", execution.durationMs === null ? "-" : `${execution.durationMs} ms`],
    ["cost", costOf(execution)],
  ];
  if (execution.error) rows.push(["error", `${execution.error.code}: ${execution.error.message}`]);
  return table(rows);
}

/** `spell exec --async` (or a `--wait` that ran out): the id on stdout for scripts, the rest on stderr. */
export function printAccepted(ctx: CliContext, accepted: ExecuteAccepted, json: boolean): void {
  if (json) {
    ctx.stdout(`${JSON.stringify(accepted)}\n`);
    return;
  }
  ctx.stdout(`${accepted.executionId}\n`);
  ctx.stderr(
    `${accepted.spell.slug} · ${accepted.status} · follow it: spell runs wait ${accepted.executionId}\n`,
  );
}

/**
 * Polls the execution to its end: a spinner with the status on a terminal, one line per status
 * change otherwise (never in `--json` mode). Prints the outcome and throws `ReportedExit` unless
 * it succeeded, so the exit code is the run's.
 */
export async function waitAndReport(
  ctx: CliContext,
  spell: SpellClient,
  executionId: string,
  options: { json: boolean; timeoutSeconds: number },
): Promise<void> {
  const label = (status: string) => `${status} ${executionId}…`;
  const spinner = startSpinner(ctx, label("waiting for"), { quiet: options.json });
  const progress = !options.json && ctx.stderrIsTTY !== true;
  const { execution } = await spell.executions
    .wait(executionId, {
      timeoutMs: options.timeoutSeconds * 1000,
      onUpdate: (seen) => {
        spinner.update(label(seen.status));
        if (progress && !TERMINAL.has(seen.status)) ctx.stderr(`${executionId} ${seen.status}\n`);
      },
    })
    .finally(() => spinner.stop());
  const code = exitCodeOf(execution);
  if (options.json) {
    ctx.stdout(`${JSON.stringify({ ok: true, execution })}\n`);
  } else if (execution.status === "succeeded") {
    ctx.stdout(pretty(execution.output));
    ctx.stderr(
      `${execution.spell.slug} · ${execution.spell.runtime} · ${execution.durationMs ?? "-"} ms · ${costOf(execution)} · ${execution.executionId}\n`,
    );
  } else if (code === EXIT.pending) {
    ctx.stderr(
      `${executionId} is still ${execution.status} after ${options.timeoutSeconds}s; wait again: spell runs wait ${executionId}\n`,
    );
  } else {
    const paint = paintFor(ctx, "stderr");
    const error = execution.error ?? {
      code: "EXECUTION_FAILED",
      message: "The execution failed",
      details: {},
    };
    ctx.stderr(`${paint.red(`error ${error.code}`)}: ${error.message}\n`);
    ctx.stderr(`${execution.spell.slug} · ${execution.status} · ${costOf(execution)} · ${executionId}\n`);
  }
  if (code !== EXIT.ok) throw new ReportedExit(code);
}

/** The embedded database has no job engine: reads of one execution fall back to `me`'s recent list. */
function asyncUnavailable(error: unknown): boolean {
  return (
    isSpellError(error) &&
    error.code === "SERVICE_UNAVAILABLE" &&
    error.details.reason === "async_unavailable"
  );
}

interface Dependencies {
  client(cmd: Command): Promise<SpellClient>;
}

/**
 * `spell runs` (= `runs list`), `runs get|cancel|wait <id>`. `spell runs <id>` still shows one of
 * the recent runs, as before the subcommands existed.
 */
export function addRunsCommands(program: Command, ctx: CliContext, { client }: Dependencies): void {
  const out = (text: string) => ctx.stdout(text);
  const runs = program
    .command("runs")
    .description("Your recent executions with status and cost; get, cancel or wait for one");

  runs
    .command("list", { isDefault: true })
    .description("Your recent executions with status and cost (spell runs <id>: one of them)")
    .argument("[executionId]", "show this execution only (prefer spell runs get <id>)")
    .option("--json", "print the raw JSON result")
    .action(async (executionId: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const { usage } = await (await client(cmd)).me();
      const paint = paintFor(ctx, "stdout");
      if (executionId !== undefined) {
        const found = findRun(usage.recent, executionId);
        return out(
          opts.json ? `${JSON.stringify({ ok: true, execution: found })}\n` : runDetails(found, paint),
        );
      }
      if (opts.json) return out(`${JSON.stringify({ ok: true, executions: usage.recent })}\n`);
      out(runsTable(usage.recent, paint));
    });

  runs
    .command("get")
    .description("One of your executions: status, output, cost, error")
    .argument("<executionId>")
    .option("--json", "print the raw JSON result")
    .action(async (executionId: string, opts: { json?: boolean }, cmd: Command) => {
      const spell = await client(cmd);
      const paint = paintFor(ctx, "stdout");
      let execution: Execution;
      try {
        ({ execution } = await spell.executions.get(executionId));
      } catch (error) {
        if (!asyncUnavailable(error)) throw error;
        const found = findRun((await spell.me()).usage.recent, executionId);
        return out(
          opts.json ? `${JSON.stringify({ ok: true, execution: found })}\n` : runDetails(found, paint),
        );
      }
      if (opts.json) return out(`${JSON.stringify({ ok: true, execution })}\n`);
      out(executionDetails(execution, paint));
      if (execution.status === "succeeded") out(`\noutput:\n${pretty(execution.output)}`);
    });

  runs
    .command("cancel")
    .description("Cancel a queued or running execution (a queued one is never charged)")
    .argument("<executionId>")
    .option("--json", "print the raw JSON result")
    .action(async (executionId: string, opts: { json?: boolean }, cmd: Command) => {
      const { execution } = await (await client(cmd)).executions.cancel(executionId);
      const canceled = execution.status === "canceled";
      if (opts.json) out(`${JSON.stringify({ ok: true, execution })}\n`);
      else if (canceled)
        out(`canceled ${executionId} (${execution.billing?.charged ? costOf(execution) : "not charged"})\n`);
      else
        ctx.stderr(
          TERMINAL.has(execution.status)
            ? `${executionId} had already ${execution.status}; nothing to cancel\n`
            : `${executionId} is still ${execution.status}; try again\n`,
        );
      // A run that finished before the cancel is reported, not hidden: scripts see it did run.
      if (!canceled) throw new ReportedExit(EXIT.other);
    });

  runs
    .command("wait")
    .description("Wait for an execution to end; exits 0 if it succeeded, non-zero otherwise")
    .argument("<executionId>")
    .option(
      "--timeout <seconds>",
      `stop waiting after this long (default ${DEFAULT_WAIT_TIMEOUT_SECONDS}); exit ${EXIT.pending} if still running`,
    )
    .option("--json", "print the final execution as JSON")
    .addHelpText(
      "after",
      `\nExit codes: ${EXIT.ok} succeeded, ${EXIT.canceled} canceled, ${EXIT.pending} still running at --timeout;\na failed run exits as its error would (${EXIT.other} runtime, ${EXIT.auth} access, ${EXIT.payment} payment).`,
    )
    .action(async (executionId: string, opts: { json?: boolean; timeout?: string }, cmd: Command) => {
      const timeoutSeconds =
        opts.timeout === undefined ? DEFAULT_WAIT_TIMEOUT_SECONDS : parseSeconds("--timeout", opts.timeout);
      await waitAndReport(ctx, await client(cmd), executionId, {
        json: opts.json === true,
        timeoutSeconds,
      });
    });
}
