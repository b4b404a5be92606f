import { readFile } from "node:fs/promises";
import { WASM_DEMOS } from "@spell/runtime-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcp } from "./mcp/testing.ts";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ wasm: true });
  const wordcount = WASM_DEMOS.find((demo) => demo.slug === "wordcount@v1");
  if (!wordcount) throw new Error("no wordcount demo");
  await h.publish({
    slug: "wordcount@v1",
    runtime: "wasm",
    artifact: { wasmBase64: (await readFile(wordcount.file)).toString("base64") },
    metadata: { description: wordcount.description },
    inputSchema: wordcount.inputSchema,
  });
});
afterAll(() => h?.close());

describe("MCP on the wasm runtime", () => {
  it("runs a wasm spell and enforces its declared input schema before running it", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token);
    try {
      const result = await mcp.client.callTool({ name: "wordcount_v1", arguments: { text: "a b a" } });
      expect(result.isError ?? false).toBe(false);
      expect(result.structuredContent).toMatchObject({ words: 3 });
      const missing = await mcp.client.callTool({ name: "wordcount_v1", arguments: {} });
      expect(missing._meta?.["spell/error"]).toMatchObject({
        code: "VALIDATION_ERROR",
        details: { issues: [expect.objectContaining({ pointer: "/input/text", keyword: "required" })] },
      });
      expect(await h.executionCount(caller.id)).toBe(1);
    } finally {
      await mcp.close();
    }
  });
});

describe("MCP across processes", () => {
  it("is stateless: two API processes on one database answer the same client's requests", async () => {
    const second = await h.startInstance();
    const caller = await h.user();
    const first = await connectMcp(h.url, caller.token);
    const other = await connectMcp(second.url, caller.token);
    try {
      const a = await first.client.listTools();
      const b = await other.client.listTools();
      expect(b.tools.map((t) => t.name)).toEqual(a.tools.map((t) => t.name));
      // A key used on one process replays on the other: the database, not the process, holds state.
      const call = (client: typeof first.client) =>
        client.callTool({
          name: "echo_v1",
          arguments: { x: 1 },
          _meta: { "spell/idempotencyKey": "two-procs" },
        });
      const one = await call(first.client);
      const two = await call(other.client);
      expect(two._meta?.["spell/execution"]).toEqual(one._meta?.["spell/execution"]);
      expect(await h.executionCount(caller.id)).toBe(1);
    } finally {
      await first.close();
      await other.close();
    }
  });
});
