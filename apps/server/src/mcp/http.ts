import { toNodeHandler } from "@modelcontextprotocol/node";
import { type AuthInfo, createMcpHandler } from "@modelcontextprotocol/server";
import { AppError, toAppError } from "@spell/contracts";
import type { Engine } from "@spell/engine";
import type { Express, Request, RequestHandler, Response } from "express";
import type { Logger } from "../errors.ts";
import { sendError } from "../http/guards.ts";
import { authInfoOf, createSpellMcpServer } from "./server.ts";
import { tasksAvailable } from "./tasks.ts";

export interface McpOptions {
  /**
   * The trusted token issuers, named as authorization servers in the Protected Resource Metadata
   * (RFC 9728): where an MCP client gets a token Spell accepts.
   */
  authorizationServers?: string[];
  /**
   * Browser origins allowed to call `/mcp` besides the server's own. A request without `Origin`
   * (every non-browser client) is allowed; any other origin is refused (DNS rebinding, CSRF).
   */
  allowedOrigins?: string[];
}

export interface MountMcpOptions extends McpOptions {
  engine: Engine;
  /** Where clients reach this server (`SPELL_PUBLIC_URL`); otherwise taken from each request. */
  publicUrl?: string;
  maxBodySize: number;
  logger: Logger;
}

export const PROTECTED_RESOURCE_PATHS = [
  "/.well-known/oauth-protected-resource",
  "/.well-known/oauth-protected-resource/mcp",
];

function baseUrlOf(req: Request, publicUrl: string | undefined): string {
  return publicUrl?.replace(/\/+$/, "") ?? `${req.protocol}://${req.get("host") ?? "localhost"}`;
}

/**
 * `/mcp`: the Model Context Protocol over Streamable HTTP, stateless (a fresh server per request,
 * no session ids), serving 2026-07-28 and the 2025 revisions; and the Protected Resource Metadata
 * that tells MCP clients which issuers' tokens it accepts.
 */
export function mountMcp(app: Express, options: MountMcpOptions): void {
  const { engine, logger } = options;
  const allowed = new Set(options.allowedOrigins ?? []);
  const publicOrigin = options.publicUrl ? new URL(options.publicUrl).origin : undefined;

  app.get(PROTECTED_RESOURCE_PATHS, (req, res) => {
    const base = baseUrlOf(req, options.publicUrl);
    res.json({
      resource: `${base}/mcp`,
      authorization_servers: options.authorizationServers ?? [],
      bearer_methods_supported: ["header"],
      scopes_supported: ["spell:admin"],
      resource_name: "Spell",
      resource_documentation: `${base}/docs`,
    });
  });

  const originGuard: RequestHandler = (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    const own = publicOrigin ?? `${req.protocol}://${req.get("host") ?? ""}`;
    if (origin === own || allowed.has(origin)) return next();
    sendError(
      res,
      new AppError("FORBIDDEN", "This origin may not call /mcp", { reason: "origin_not_allowed", origin }),
    );
  };

  const authGuard: RequestHandler = async (req, res, next) => {
    const authorization = req.headers.authorization;
    try {
      const session = await engine.authenticate(authorization, "any");
      const token = authorization?.replace(/^Bearer\s+/i, "") ?? "";
      (req as Request & { auth?: AuthInfo }).auth = authInfoOf(
        { session, authorization: authorization ?? "", baseUrl: baseUrlOf(req, options.publicUrl) },
        token,
      );
      next();
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.code !== "UNAUTHORIZED") return sendError(res, error);
      const metadata = `${baseUrlOf(req, options.publicUrl)}${PROTECTED_RESOURCE_PATHS[1]}`;
      const invalid = authorization === undefined ? "" : ', error="invalid_token"';
      sendError(res, error, { "WWW-Authenticate": `Bearer resource_metadata="${metadata}"${invalid}` });
    }
  };

  // One handler for the process; each request gets its own server instance from the factory.
  const mcp = createMcpHandler(
    async (ctx) => createSpellMcpServer(engine, ctx.authInfo, { tasks: tasksAvailable(engine) }),
    {
      maxRequestBodySize: options.maxBodySize,
      onerror: (error) => logger.error("MCP", error),
    },
  );
  const handle = toNodeHandler(mcp, {
    maxRequestBodySize: options.maxBodySize,
    onerror: (error) => logger.error("MCP", error),
  });

  app.all("/mcp", originGuard, authGuard, async (req: Request, res: Response) => {
    await handle(req, res);
  });
}
