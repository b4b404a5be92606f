import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectMcp, rawModernRequest } from "./mcp/testing.ts";
import { startEmbeddedHarness } from "./testutil/embedded.ts";
import type { Harness } from "./testutil/harness.ts";

// The embedded PGlite has no job engine, so no MCP tasks: whatever server the other files use, this
// one starts the harness on the embedded database (DATABASE_URL unset while it starts).
let h: Harness;
beforeAll(async () => {
  h = await startEmbeddedHarness();
});
afterAll(() => h?.close());

const ZCallResult = z.looseObject({
  content: z.array(z.unknown()),
  structuredContent: z.unknown().optional(),
});

describe("MCP tasks on the embedded database", () => {
  it("2025-11-25: nothing is advertised, a task param is ignored (the call runs), tasks/* are not found", async () => {
    expect(h.runWorker).toBeUndefined();
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, "legacy");
    try {
      expect(mcp.client.getServerCapabilities()).not.toHaveProperty("tasks");
      const { tools } = await mcp.client.listTools();
      for (const tool of tools) expect(tool).not.toHaveProperty("execution");
      const result = await mcp.client.request(
        { method: "tools/call", params: { name: "echo_v1", arguments: { inline: true }, task: {} } },
        ZCallResult,
      );
      expect(result).not.toHaveProperty("task");
      expect(result.structuredContent).toEqual({ inline: true });
      await expect(
        mcp.client.request(
          { method: "tasks/get", params: { taskId: "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001" } },
          z.unknown(),
        ),
      ).rejects.toMatchObject({ code: -32601 });
    } finally {
      await mcp.close();
    }
  });

  it("2026-07-28: no extension in server/discover; a declaring client gets the synchronous result", async () => {
    const caller = await h.user();
    const discover = await rawModernRequest(h.url, caller.token, "server/discover", {}, { tasks: true });
    expect(JSON.stringify(discover.result?.capabilities)).not.toContain("io.modelcontextprotocol/tasks");
    const call = await rawModernRequest(
      h.url,
      caller.token,
      "tools/call",
      { name: "echo_v1", arguments: { inline: 2 } },
      { tasks: true },
    );
    expect(call.result).toMatchObject({ resultType: "complete", structuredContent: { inline: 2 } });
    const get = await rawModernRequest(
      h.url,
      caller.token,
      "tasks/get",
      { taskId: "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001" },
      { tasks: true },
    );
    expect(get.error?.code).toBe(-32601);
  });
});
