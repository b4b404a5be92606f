import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcp } from "./mcp/testing.ts";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.publish({
    slug: "greet@v1",
    runtime: "builtin",
    artifact: { builtin: "echo" },
    inputSchema: {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
    },
    outputSchema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
    metadata: { description: "Greets" },
  });
});
afterAll(() => h?.close());

describe.each(["modern", "legacy"] as const)("MCP over Streamable HTTP (%s era)", (era) => {
  it("negotiates the revision", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, era);
    try {
      expect(mcp.client.getProtocolEra()).toBe(era);
      expect(mcp.client.getNegotiatedProtocolVersion()).toBe(era === "modern" ? "2026-07-28" : "2025-11-25");
    } finally {
      await mcp.close();
    }
  });

  it("lists the runnable spells as tools, sorted, with schemas, annotations and price", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, era);
    try {
      const { tools } = await mcp.client.listTools();
      const names = tools.map((tool) => tool.name);
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining(["echo_v1", "greet_v1", "resize_v1"]));
      const greet = tools.find((tool) => tool.name === "greet_v1");
      expect(greet).toMatchObject({
        title: "greet@v1",
        inputSchema: { type: "object", required: ["name"] },
        outputSchema: { type: "object", required: ["name"] },
        annotations: { readOnlyHint: true, destructiveHint: false },
        _meta: { "spell/slug": "greet@v1", "spell/price": { amount: 0, currency: "usd" } },
      });
      expect(greet?.description).toContain("Free.");
      // Builtins describe their input from their zod schema.
      const resize = tools.find((tool) => tool.name === "resize_v1");
      expect(resize?.inputSchema.properties).toHaveProperty("image");
    } finally {
      await mcp.close();
    }
  });

  it("calls a free spell through the pipeline: structuredContent, the same JSON as text, the execution in _meta", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, era);
    try {
      const result = await mcp.client.callTool({ name: "greet_v1", arguments: { name: "Ada" } });
      expect(result.isError ?? false).toBe(false);
      expect(result.structuredContent).toEqual({ name: "Ada" });
      expect(result.content).toEqual([{ type: "text", text: JSON.stringify({ name: "Ada" }) }]);
      expect(result._meta?.["spell/execution"]).toMatchObject({
        spell: { slug: "greet@v1", runtime: "builtin" },
        billing: { charged: false, amount: 0 },
      });
      expect(await h.executionCount(caller.id)).toBe(1);
    } finally {
      await mcp.close();
    }
  });

  it("answers bad input as an isError result with VALIDATION_ERROR and JSON pointers, running nothing", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, era);
    try {
      const result = await mcp.client.callTool({ name: "greet_v1", arguments: { name: 5 } });
      expect(result.isError).toBe(true);
      const error = result._meta?.["spell/error"] as {
        code: string;
        details: { issues: { pointer: string }[] };
      };
      expect(error.code).toBe("VALIDATION_ERROR");
      expect(error.details.issues.map((issue) => issue.pointer)).toEqual(["/input/name"]);
      expect(JSON.parse((result.content as { text: string }[])[0]?.text ?? "")).toMatchObject({
        ok: false,
        error: { code: "VALIDATION_ERROR" },
      });
      expect(await h.executionCount(caller.id)).toBe(0);
    } finally {
      await mcp.close();
    }
  });

  it("answers an unknown tool as SPELL_NOT_FOUND", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, era);
    try {
      const result = await mcp.client.callTool({ name: "nothing_v1", arguments: {} });
      expect(result.isError).toBe(true);
      expect(result._meta?.["spell/error"]).toMatchObject({ code: "SPELL_NOT_FOUND" });
    } finally {
      await mcp.close();
    }
  });
});

describe("MCP 2026-07-28 wire features", () => {
  it("advertises the revisions in server/discover and marks tools/list results uncacheable and private", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token, "modern");
    try {
      expect(mcp.client.getDiscoverResult()).toMatchObject({
        supportedVersions: expect.arrayContaining(["2026-07-28"]),
      });
      await mcp.client.listTools();
      const list = mcp.received.find(
        (message) => (message as { result?: { tools?: unknown } }).result?.tools !== undefined,
      ) as { result: Record<string, unknown> };
      expect(list.result).toMatchObject({ resultType: "complete", ttlMs: 0, cacheScope: "private" });
    } finally {
      await mcp.close();
    }
  });
});

describe("MCP idempotency", () => {
  it("replays a call with the same _meta idempotency key: one execution, the same id", async () => {
    const caller = await h.user();
    const mcp = await connectMcp(h.url, caller.token);
    try {
      const call = () =>
        mcp.client.callTool({
          name: "echo_v1",
          arguments: { n: 1 },
          _meta: { "spell/idempotencyKey": "mcp-key-1" },
        });
      const first = await call();
      const second = await call();
      const idOf = (result: typeof first) =>
        (result._meta?.["spell/execution"] as { executionId: string } | undefined)?.executionId;
      expect(idOf(second)).toBe(idOf(first));
      expect(await h.executionCount(caller.id)).toBe(1);
      const conflict = await mcp.client.callTool({
        name: "echo_v1",
        arguments: { n: 2 },
        _meta: { "spell/idempotencyKey": "mcp-key-1" },
      });
      expect(conflict._meta?.["spell/error"]).toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
    } finally {
      await mcp.close();
    }
  });
});
