import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { CliContext } from "./context.ts";

/**
 * Relative paths are the user's, not the process's: `pnpm --filter @spell/cli exec spell` runs in
 * apps/cli, and pnpm records where the user was in INIT_CWD.
 */
export function resolveUserPath(ctx: CliContext, path: string): string {
  if (isAbsolute(path)) return path;
  return resolve(ctx.env.INIT_CWD || ctx.cwd, path);
}

/** `$XDG_CONFIG_HOME/spell`, else `~/.config/spell`; the XDG spec ignores a relative XDG_CONFIG_HOME. */
export function configDir(ctx: CliContext): string {
  const xdg = ctx.env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "spell");
  return join(ctx.env.HOME || homedir(), ".config", "spell");
}
