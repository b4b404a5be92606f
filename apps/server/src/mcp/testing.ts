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
