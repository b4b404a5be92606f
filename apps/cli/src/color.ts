import type { CliContext } from "./context.ts";

export interface Paint {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** No colour: pipes, files, `NO_COLOR`. */
export const PLAIN_PAINT: Paint = {
  red: (text) => text,
  green: (text) => text,
  yellow: (text) => text,
  dim: (text) => text,
  bold: (text) => text,
};

const sgr = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const ansi: Paint = {
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  dim: sgr(2, 22),
  bold: sgr(1, 22),
};

/**
 * Colour for a person at a terminal only: never into a pipe or a file, never with `NO_COLOR` set
 * to anything (https://no-color.org) or on a dumb terminal.
 */
export function paintFor(ctx: CliContext, stream: "stdout" | "stderr"): Paint {
  const tty = stream === "stdout" ? ctx.stdoutIsTTY : ctx.stderrIsTTY;
  const noColor = ctx.env.NO_COLOR !== undefined && ctx.env.NO_COLOR !== "";
  return tty === true && !noColor && ctx.env.TERM !== "dumb" ? ansi : PLAIN_PAINT;
}
