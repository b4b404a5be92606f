import type { CliContext } from "./context.ts";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/** Runs quicker than this print nothing: a flash of spinner is noise. */
export const SPINNER_DELAY_MS = 300;
const FRAME_MS = 100;
const CLEAR_LINE = "\r\u001b[2K";

export interface Spinner {
  /** Replaces the label from the next frame on (a status that changed while waiting). */
  update(label: string): void;
  stop(): void;
}

/**
 * `⠋ running echo@v1… 1.2s` on standard error while something slow runs, redrawn in place; only
 * on a terminal (never into a pipe or a log file) and never in `--json` mode (callers pass `quiet`).
 */
export function startSpinner(
  ctx: CliContext,
  initialLabel: string,
  options: { quiet?: boolean } = {},
): Spinner {
  if (options.quiet || ctx.stderrIsTTY !== true) return { update() {}, stop() {} };
  let label = initialLabel;
  const started = Date.now();
  let frame = 0;
  let shown = false;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const draw = () => {
    shown = true;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    ctx.stderr(`${CLEAR_LINE}${FRAMES[frame++ % FRAMES.length]} ${label} ${seconds}s`);
  };
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, FRAME_MS);
    ticker.unref?.();
  }, SPINNER_DELAY_MS);
  delay.unref?.();
  return {
    update(next) {
      label = next;
    },
    stop() {
      clearTimeout(delay);
      if (ticker) clearInterval(ticker);
      if (shown) ctx.stderr(CLEAR_LINE);
    },
  };
}
