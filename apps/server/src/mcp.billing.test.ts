import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcp } from "./mcp/testing.ts";
import { toolNameOf } from "./mcp/tool-names.ts";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
beforeAll(async () => {
  s = await startStripeHarness();
});
afterAll(() => s?.close());

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
