import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

export interface McpTestClient {
  client: Client;
  /** Every JSON-RPC message the server sent back, as received on the wire. */
  received: unknown[];
  close(): Promise<void>;
}

/**
 * The SDK's own MCP client over HTTP against `<baseUrl>/mcp` with a bearer token: `modern`
 * negotiates 2026-07-28 through `server/discover`, `legacy` runs the 2025 `initialize` handshake.
 */
export async function connectMcp(
  baseUrl: string,
  token: string,
  era: "modern" | "legacy" = "modern",
): Promise<McpTestClient> {
  const client = new Client(
    { name: "spell-tests", version: "1.0.0" },
    era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {},
  );
  const received: unknown[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      const text = await response.clone().text();
      for (const line of text.split("\n")) {
        const json = line.startsWith("data: ") ? line.slice(6) : line.startsWith("{") ? line : null;
        if (json) received.push(JSON.parse(json));
      }
      return response;
    },
  });
  await client.connect(transport);
  return { client, received, close: () => client.close() };
}

export interface RawMcpAnswer {
  status: number;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

let rawId = 0;

/**
 * One 2026-07-28 JSON-RPC request over plain HTTP, with the per-request `_meta` envelope (and the
 * tasks extension among the client's capabilities when `tasks`). The SDK client (2.4) refuses to
 * send `tasks/get` on this revision and to decode `resultType: "task"`, so tests speak the wire.
 */
export async function rawModernRequest(
  baseUrl: string,
  token: string,
  method: string,
  params: Record<string, unknown>,
  options: { tasks?: boolean } = {},
): Promise<RawMcpAnswer> {
  const capabilities = options.tasks ? { extensions: { "io.modelcontextprotocol/tasks": {} } } : {};
  const name = (params.taskId ?? params.name) as string | undefined;
  const response = await fetch(`${baseUrl}/mcp`, {
    method: "POST",
    headers: {
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "mcp-method": method,
      ...(name === undefined ? {} : { "mcp-name": name }),
      "mcp-protocol-version": "2026-07-28",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: ++rawId,
      method,
      params: {
        ...params,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "spell-tests", version: "1.0.0" },
          "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
      },
    }),
  });
  const text = await response.text();
  const line = text.split("\n").find((each) => each.startsWith("data: ") || each.startsWith("{")) ?? "{}";
  const message = JSON.parse(line.startsWith("data: ") ? line.slice(6) : line) as Omit<
    RawMcpAnswer,
    "status"
  >;
  return { status: response.status, ...message };
}
