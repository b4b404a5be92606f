import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeHarness, startStripeHarness } from "./testutil/billing.ts";

let s: StripeHarness;
const SLUG = "typed-paid@v1";

beforeAll(async () => {
  s = await startStripeHarness();
  await s.h.publish({
    slug: SLUG,
    runtime: "builtin",
    artifact: { builtin: "echo" },
    priceAmount: 60,
    currency: "usd",
    inputSchema: { type: "object", required: ["name"] },
    outputSchema: { type: "object", required: ["greeting"] },
  });
});
afterAll(() => s?.close());

describe("schemas on a priced spell", () => {
  it("a bad input is refused before any charge: no PaymentIntent, no row", async () => {
    const dave = await s.h.user("dave");
    await s.saveCard(dave);
    const intents = s.fake.requestsTo("/v1/payment_intents", "POST").length;
    const response = await s.execute(dave, SLUG, { nope: 1 });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("VALIDATION_ERROR");
    expect(s.fake.requestsTo("/v1/payment_intents", "POST").length).toBe(intents);
    expect(await s.h.executionCount(dave.id)).toBe(0);
  });

  it("an output breaking its schema is RUNTIME_ERROR output_schema and the authorization is released", async () => {
    const erin = await s.h.user("erin");
    await s.saveCard(erin);
    const response = await s.execute(erin, SLUG, { name: "x" });
    expect(response.status).toBe(502);
    expect(response.body.error).toMatchObject({
      code: "RUNTIME_ERROR",
      details: {
        reason: "output_schema",
        issues: [expect.objectContaining({ pointer: "/output/greeting", keyword: "required" })],
        billing: { charged: false },
      },
    });
    const intent = s.fake.requestsTo("/v1/payment_intents", "POST").at(-1);
    expect(intent).toBeDefined();
    const cancels = s.fake.requests.filter((r) => /\/v1\/payment_intents\/pi_\w+\/cancel$/.test(r.path));
    const captures = s.fake.requests.filter((r) => /\/v1\/payment_intents\/pi_\w+\/capture$/.test(r.path));
    expect(cancels.length).toBeGreaterThan(0);
    expect(captures.every((r) => !cancels.some((c) => c.path.split("/")[3] === r.path.split("/")[3]))).toBe(
      true,
    );
  });
});
