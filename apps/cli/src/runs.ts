import type { MeOutput } from "@spell/contracts";
import type { Paint } from "./color.ts";
import { CliError, EXIT } from "./context.ts";
import { formatPrice, table } from "./format.ts";

type Run = MeOutput["usage"]["recent"][number];

/** What the run cost you: its price when it succeeded; a failed run was never charged (or was refunded). */
export function runCost(run: Run): string {
  if (run.amount === 0) return "free";
  if (run.status === "succeeded") return formatPrice(run);
  if (run.status === "failed" || run.status === "canceled") return "not charged";
  return `${formatPrice(run)} (${run.status === "pending_payment" ? "awaiting payment" : "authorized"})`;
}

function status(run: Run, paint: Paint): string {
  const text = run.errorCode ? `${run.status} (${run.errorCode})` : run.status;
  if (run.status === "succeeded") return paint.green(text);
  if (run.status === "failed") return paint.red(text);
  return paint.yellow(text);
}

/** Recent executions, newest first, as a table. */
export function runsTable(runs: Run[], paint: Paint): string {
  if (runs.length === 0) return "no executions yet\n";
  return table([
    ["CREATED", "EXECUTION", "SPELL", "STATUS", "DURATION", "COST"].map(paint.bold),
    ...runs.map((run) => [
      run.createdAt,
      run.executionId,
      run.slug,
      status(run, paint),
      run.durationMs === null ? "-" : `${run.durationMs} ms`,
      runCost(run),
    ]),
  ]);
}

/** One execution from the recent list, or a clear "not among your recent ones". */
export function findRun(runs: Run[], executionId: string): Run {
  const run = runs.find((each) => each.executionId === executionId);
  if (!run)
    throw new CliError(
      "NOT_FOUND",
      `no execution ${executionId} among your ${runs.length} most recent (spell runs lists them)`,
      EXIT.other,
    );
  return run;
}

export function runDetails(run: Run, paint: Paint): string {
  return table([
    ["execution", run.executionId],
    ["spell", `${run.slug} (${run.runtime})`],
    ["status", status(run, paint)],
    ["created", run.createdAt],
    ["duration", run.durationMs === null ? "-" : `${run.durationMs} ms`],
    ["cost", runCost(run)],
  ]);
}
