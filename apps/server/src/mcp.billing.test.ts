import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectMcp, type McpTestClient } from "./mcp/testing.ts";
import { toolNameOf } from "./mcp/tool-names.ts";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterAll(() => s?.close());
afterEach(async () => {
  await s.h.runWorker?.resume();
});

describe("MCP priced spells", () => {
  it("shows the price in the description and _meta", async () => {
    const alice = await s.h.user("alice");
    const mcp = await connectMcp(s.h.url, alice.token);
    try {
      const tool = (await mcp.client.listTools()).tools.find((t) => t.name === toolNameOf(s.countedSlug));
      expect(tool?.description).toContain("0.75 USD per call");
      expect(tool?._meta?.["spell/price"]).toEqual({ amount: 75, currency: "usd" });
      expect(tool?.annotations?.readOnlyHint).toBe(false);
    } finally {
      await mcp.close();
    }
  });

  it("without a card: an isError result telling the agent how to add one, nothing charged or run", async () => {
    const bob = await s.h.user("bob");
    const runs = s.upstream.runs();
    const mcp = await connectMcp(s.h.url, bob.token);
    try {
      const result = await mcp.client.callTool({ name: toolNameOf(s.countedSlug), arguments: {} });
      expect(result.isError).toBe(true);
      expect(result._meta?.["spell/error"]).toMatchObject({ code: "PAYMENT_METHOD_REQUIRED" });
      const texts = (result.content as { text: string }[]).map((c) => c.text).join("\n");
      expect(texts).toContain("/api/billing/checkout-url");
      expect(s.upstream.runs()).toBe(runs);
      expect(s.fake.requestsTo("/v1/payment_intents", "POST")).toHaveLength(0);
    } finally {
      await mcp.close();
    }
  });

  it("with a card: charged once, run once, captured", async () => {
    const carol = await s.h.user("carol");
    await s.saveCard(carol);
    const intents = s.fake.requestsTo("/v1/payment_intents", "POST").length;
    const runs = s.upstream.runs();
    const mcp = await connectMcp(s.h.url, carol.token);
    try {
      const call = () =>
        mcp.client.callTool({
          name: toolNameOf(s.countedSlug),
          arguments: { a: 1 },
          _meta: { "spell/idempotencyKey": "pay-once" },
        });
      const result = await call();
      expect(result.isError ?? false).toBe(false);
      expect(result.structuredContent).toMatchObject({ input: { a: 1 } });
      expect(result._meta?.["spell/execution"]).toMatchObject({
        billing: { charged: true, amount: 75, currency: "usd" },
      });
      // A retry with the same key replays: no second charge, no second run.
      const again = await call();
      expect(again._meta?.["spell/execution"]).toEqual(result._meta?.["spell/execution"]);
      expect(s.fake.requestsTo("/v1/payment_intents", "POST").length).toBe(intents + 1);
      expect(s.upstream.runs()).toBe(runs + 1);
    } finally {
      await mcp.close();
    }
  });
});

const ZTask = z.looseObject({ taskId: z.string(), status: z.string() });
const ZCallResult = z.looseObject({
  content: z.array(z.unknown()),
  isError: z.boolean().optional(),
  _meta: z.record(z.string(), z.unknown()).optional(),
});

async function intentOf(executionId: string) {
  return s.h.testDb.database.prisma.billingRecord.findUnique({ where: { executionId } });
}

/** 2025-11-25: a task-augmented call of the priced spell; its task id is the execution id. */
async function priceTask(mcp: McpTestClient): Promise<string> {
  const created = await mcp.client.request(
    { method: "tools/call", params: { name: toolNameOf(s.countedSlug), arguments: { t: 1 }, task: {} } },
    z.looseObject({ task: ZTask }),
  );
  return created.task.taskId;
}

// pg-boss needs a PostgreSQL server: the embedded database has no MCP tasks (mcp.tasks.embedded.test.ts).
describe.runIf(process.env.DATABASE_URL)("MCP priced spells as tasks", () => {
  it("without a card the task-augmented call is refused: no task, nothing authorized, queued or run", async () => {
    const dave = await s.h.user("dave");
    const runs = s.upstream.runs();
    const intents = s.fake.requestsTo("/v1/payment_intents", "POST").length;
    const mcp = await connectMcp(s.h.url, dave.token, "legacy");
    try {
      const refused = await mcp.client.request(
        { method: "tools/call", params: { name: toolNameOf(s.countedSlug), arguments: {}, task: {} } },
        ZCallResult,
      );
      expect(refused.isError).toBe(true);
      expect(refused).not.toHaveProperty("task");
      expect(refused._meta?.["spell/error"]).toMatchObject({ code: "PAYMENT_METHOD_REQUIRED" });
      expect(s.upstream.runs()).toBe(runs);
      expect(s.fake.requestsTo("/v1/payment_intents", "POST")).toHaveLength(intents);
      // As on a synchronous priced call the refusal is recorded (failed), never queued.
      const listed = await s.h.call("GET", "/api/executions", { token: dave.token });
      expect(listed.body.executions.map((e: { status: string }) => e.status)).toEqual(["failed"]);
    } finally {
      await mcp.close();
    }
  });

  it("with a card: authorized before the task is answered, captured once after the run", async () => {
    const erin = await s.h.user("erin");
    await s.saveCard(erin);
    const mcp = await connectMcp(s.h.url, erin.token, "legacy");
    try {
      await s.h.runWorker?.pause();
      const taskId = await priceTask(mcp);
      expect((await intentOf(taskId))?.status).toBe("pending");
      await s.h.runWorker?.resume();
      const result = await mcp.client.request({ method: "tasks/result", params: { taskId } }, ZCallResult);
      expect(result._meta?.["spell/execution"]).toMatchObject({ billing: { charged: true, amount: 75 } });
      await expect.poll(async () => (await intentOf(taskId))?.status).toBe("succeeded");
      const record = await intentOf(taskId);
      expect(
        s.fake.requestsTo(`/v1/payment_intents/${record?.paymentIntentId}/capture`, "POST"),
      ).toHaveLength(1);
    } finally {
      await mcp.close();
    }
  });

  it("tasks/cancel of a queued priced task: never run, the authorization released", async () => {
    const frank = await s.h.user("frank");
    await s.saveCard(frank);
    const runs = s.upstream.runs();
    const mcp = await connectMcp(s.h.url, frank.token, "legacy");
    try {
      await s.h.runWorker?.pause();
      const taskId = await priceTask(mcp);
      const canceled = await mcp.client.request({ method: "tasks/cancel", params: { taskId } }, ZTask);
      expect(canceled.status).toBe("cancelled");
      await s.h.runWorker?.resume();
      await expect.poll(async () => (await intentOf(taskId))?.status).toBe("canceled");
      expect(s.upstream.runs()).toBe(runs);
      const record = await intentOf(taskId);
      expect(
        s.fake.requestsTo(`/v1/payment_intents/${record?.paymentIntentId}/capture`, "POST"),
      ).toHaveLength(0);
    } finally {
      await mcp.close();
    }
  });
});
