import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CliContext, CliError, EXIT } from "./context.ts";
import { configDir } from "./paths.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:8787";

/** What `spell login` stores. */
export interface CliConfig {
  apiUrl?: string;
  token?: string;
}

export function configPath(ctx: CliContext): string {
  return join(configDir(ctx), "config.json");
}

export async function readConfig(ctx: CliContext): Promise<CliConfig> {
  const path = configPath(ctx);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError("CONFIG_INVALID", `${path} is not valid JSON; fix or delete it`, EXIT.other);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliError("CONFIG_INVALID", `${path} must hold a JSON object`, EXIT.other);
  }
  const record = parsed as Record<string, unknown>;
  const config: CliConfig = {};
  if (typeof record.apiUrl === "string") config.apiUrl = record.apiUrl;
  if (typeof record.token === "string") config.token = record.token;
  return config;
}

/**
 * Merges `changes` into the stored config. The file holds a bearer token, so it is created 0600 in a
 * 0700 directory and replaced atomically (a crash never leaves half a file).
 */
export async function updateConfig(ctx: CliContext, changes: CliConfig): Promise<string> {
  return writeConfig(ctx, { ...(await readConfig(ctx)), ...changes });
}

/** Replaces the stored config with `next` (same file mode and atomic replacement as `updateConfig`). */
export async function writeConfig(ctx: CliContext, next: CliConfig): Promise<string> {
  const path = configPath(ctx);
  await mkdir(configDir(ctx), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  await rename(tmp, path);
  await chmod(path, 0o600);
  return path;
}

export interface Connection {
  apiUrl: string;
  token: string | undefined;
}

/** Flag, then environment, then the config file, then the default. */
export async function resolveConnection(ctx: CliContext, apiUrlFlag?: string): Promise<Connection> {
  const config = await readConfig(ctx);
  return {
    apiUrl: apiUrlFlag || ctx.env.SPELL_API_URL || config.apiUrl || DEFAULT_API_URL,
    token: ctx.env.SPELL_TOKEN || config.token,
  };
}
