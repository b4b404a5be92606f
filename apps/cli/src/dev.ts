import { access } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliContext, CliError, EXIT } from "./context.ts";
import { resolveUserPath } from "./paths.ts";

/** The repo root, found from this file's place in it (apps/cli/src). */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The server's data dir: `SPELL_DATA_DIR`, else `.spell/` at the repo root, where `pnpm start` keeps it. */
export function devDataDir(ctx: CliContext, flag?: string): string {
  const configured = flag || ctx.env.SPELL_DATA_DIR;
  return configured ? resolveUserPath(ctx, configured) : join(REPO_ROOT, ".spell");
}

export interface DevTokenOptions {
  sub: string;
  admin: boolean;
  dataDir?: string;
}

/**
 * Mints a token with the local server's dev issuer key. The key must already exist: creating one
 * here would yield tokens that a server using another data dir never trusts.
 */
export async function mintDevToken(ctx: CliContext, options: DevTokenOptions): Promise<string> {
  // Loaded on demand so that other commands do not pay for jose at start-up.
  const { DEV_ISSUER_FILE, loadOrCreateDevIssuer } = await import("@spell/auth/dev");
  const dir = devDataDir(ctx, options.dataDir);
  try {
    await access(join(dir, DEV_ISSUER_FILE));
  } catch {
    throw new CliError(
      "DEV_ISSUER_NOT_FOUND",
      `no dev issuer key at ${join(dir, DEV_ISSUER_FILE)}: start the server once (pnpm start) or set SPELL_DATA_DIR to its data dir`,
      EXIT.other,
    );
  }
  const issuer = await loadOrCreateDevIssuer(dir);
  const audience = ctx.env.SPELL_JWT_AUDIENCE;
  return issuer.mintToken({
    sub: options.sub,
    scopes: options.admin ? ["spell:admin"] : [],
    ...(audience ? { audience } : {}),
  });
}

/** The unverified claims of a JWT, for telling the user who they are logged in as. */
export function peekClaims(token: string): { sub?: string; exp?: number } {
  const payload = token.split(".")[1];
  if (payload === undefined) return {};
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    if (typeof claims !== "object" || claims === null) return {};
    const { sub, exp } = claims as Record<string, unknown>;
    return {
      ...(typeof sub === "string" ? { sub } : {}),
      ...(typeof exp === "number" ? { exp } : {}),
    };
  } catch {
    return {};
  }
}
