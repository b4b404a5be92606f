import {
  type AuthInfo,
  ProtocolError,
  Server,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/server";
import { AppError, toAppError, ZExecuteInput } from "@spell/contracts";
import type { Engine, Session } from "@spell/engine";
import { callAsTask, declaresTasks, eraOf, registerTaskHandlers, TASKS_EXTENSION } from "./tasks.ts";
import { slugOfToolName } from "./tool-names.ts";
import { errorResult, META, successResult, toolOf } from "./tools.ts";

/** The protocol revisions `/mcp` serves: 2026-07-28 (`server/discover`, per-request `_meta`) and the 2025 family. */
export const MCP_PROTOCOL_VERSIONS = ["2026-07-28", ...SUPPORTED_PROTOCOL_VERSIONS];

/** What the HTTP layer verified, handed to the per-request server through `authInfo.extra`. */
export interface McpCaller {
  session: Session;
  /** The raw `Authorization` header: `tools/call` runs the pipeline with the caller's own token. */
  authorization: string;
  /** Where this client reaches the server (for the add-a-card instructions). */
  baseUrl: string;
}

export function authInfoOf(caller: McpCaller, token: string): AuthInfo {
  return {
    token,
    clientId: caller.session.caller.issuer,
    scopes: caller.session.caller.scopes,
    extra: { spellCaller: caller },
  };
}

function callerOf(authInfo: AuthInfo | undefined): McpCaller {
  const caller = authInfo?.extra?.spellCaller as McpCaller | undefined;
  // The HTTP layer refuses unauthenticated requests before any server is built.
  if (!caller) throw new AppError("UNAUTHORIZED", "A bearer token is required", { reason: "missing_token" });
  return caller;
}

/** JSON-RPC error code for a Spell error outside `tools/call` (the Spell code is in `data`). */
const SPELL_ERROR = -32000;

export interface SpellMcpServerOptions {
  /**
   * Long runs as MCP tasks over the asynchronous executions (needs the job engine: off on the
   * embedded database, where nothing is advertised and a `task` param is ignored).
   */
  tasks?: boolean;
}

/**
 * A fresh MCP server for one HTTP request (stateless: nothing survives the exchange, so any API
 * process answers any request). `tools/list` is the engine's `listSpells`; `tools/call` is
 * `engine.executeSpell` with the caller's own token — the very pipeline REST and tRPC run — or,
 * as a task, the asynchronous execution whose row is the task's state.
 */
export function createSpellMcpServer(
  engine: Engine,
  authInfo: AuthInfo | undefined,
  options: SpellMcpServerOptions = {},
): Server {
  const caller = callerOf(authInfo);
  const { baseUrl } = caller;
  const executions = options.tasks ? engine.executions : undefined;
  const server = new Server(
    { name: "spell", title: "Spell", version: "0.1.0" },
    {
      // The SDK drops `tasks` (and tools' `execution`) toward 2026-07-28 peers and `extensions`
      // is how those peers learn of the tasks extension.
      capabilities: executions
        ? {
            tools: { listChanged: false },
            tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
            extensions: { [TASKS_EXTENSION]: {} },
          }
        : { tools: { listChanged: false } },
      supportedProtocolVersions: MCP_PROTOCOL_VERSIONS,
      instructions:
        "Each tool is a Spell the caller may run; its price is in the description and in _meta['spell/price']. " +
        "Pass _meta['spell/idempotencyKey'] on tools/call to make a retry safe.",
      // The list depends on the caller and changes on publish, ban or team changes: never shared, never stale.
      cacheHints: { "tools/list": { ttlMs: 0, cacheScope: "private" } },
    },
  );

  server.setRequestHandler("tools/list", async () => {
    try {
      const { spells } = await engine.listSpells(caller.session);
      const tools = spells
        .slice()
        .sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0))
        .map((spell) => toolOf(spell, { tasks: executions !== undefined }));
      return { tools };
    } catch (thrown) {
      const error = toAppError(thrown);
      throw new ProtocolError(SPELL_ERROR, error.message, error.toBody().error);
    }
  });

  server.setRequestHandler("tools/call", async (request, ctx) => {
    const slug = slugOfToolName(request.params.name);
    if (slug === null) {
      return errorResult(
        new AppError("SPELL_NOT_FOUND", `No spell is named by the tool ${request.params.name}`, {
          tool: request.params.name,
        }),
        { baseUrl },
      );
    }
    const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
    const idempotencyKey = meta?.[META.idempotencyKey] ?? meta?.idempotencyKey;
    const parsed = ZExecuteInput.safeParse({
      spell: slug,
      input: request.params.arguments ?? {},
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
    });
    if (!parsed.success) {
      return errorResult(
        new AppError("VALIDATION_ERROR", "The tool call's arguments or idempotency key are invalid", {
          issues: parsed.error.issues.map((issue) => ({
            path: issue.path.map(String),
            message: issue.message,
            code: issue.code,
          })),
        }),
        { baseUrl },
      );
    }
    const era = eraOf(ctx);
    const asTask =
      executions !== undefined &&
      (era === "2025" ? (request.params as { task?: unknown }).task !== undefined : declaresTasks(ctx));
    try {
      if (asTask) return await callAsTask(executions, caller.authorization, parsed.data, era);
      return successResult(await engine.executeSpell(caller.authorization, parsed.data));
    } catch (thrown) {
      return errorResult(thrown, { baseUrl });
    }
  });

  if (executions) registerTaskHandlers(server, { executions, session: caller.session, baseUrl });

  return server;
}
