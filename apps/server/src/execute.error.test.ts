import type { AppRouter } from "@spell/api";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

const errorBody = (code: string) => ({
  ok: false,
  error: { code, message: expect.any(String), details: expect.any(Object) },
  requestId: expect.any(String),
});

async function trpcError(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCClientError);
  return error as TRPCClientError<AppRouter>;
}

describe("execute errors", () => {
  it("400 VALIDATION_ERROR lists zod issues, on REST and tRPC alike", async () => {
    const alice = await h.user();
    const body = { spell: "Not A Slug", input: [1, 2] };
    const rest = await h.call("POST", "/api/spell/execute", { token: alice.token, body });
    expect(rest.status).toBe(400);
    expect(rest.body).toEqual(errorBody("VALIDATION_ERROR"));
    const paths = rest.body.error.details.issues.map((issue: { path: string[] }) => issue.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["spell", "input"]));

    // biome-ignore lint/suspicious/noExplicitAny: deliberately invalid input
    const viaTrpc = await trpcError(h.trpc(alice.token).spell.execute.mutate(body as any));
    expect(viaTrpc.data?.code).toBe("VALIDATION_ERROR");
    expect(viaTrpc.data?.httpStatus).toBe(400);
    expect(viaTrpc.data?.details).toEqual(rest.body.error.details);
    expect(await h.executionCount(alice.id)).toBe(0);
  });

  it("404 SPELL_NOT_FOUND for an unknown slug", async () => {
    const alice = await h.user();
    const rest = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "nope@v1" },
    });
    expect(rest.status).toBe(404);
    expect(rest.body).toEqual(errorBody("SPELL_NOT_FOUND"));
    expect(rest.body.error.details).toEqual({ spell: "nope@v1" });
    const viaTrpc = await trpcError(h.trpc(alice.token).spell.execute.mutate({ spell: "nope@v1" }));
    expect(viaTrpc.data).toMatchObject({
      code: "SPELL_NOT_FOUND",
      httpStatus: 404,
      details: { spell: "nope@v1" },
    });
  });

  it("409 IDEMPOTENCY_CONFLICT when a key is reused with another input, and nothing runs again", async () => {
    const alice = await h.user();
    const send = (input: object) =>
      h.call("POST", "/api/spell/execute", {
        token: alice.token,
        body: { spell: "echo@v1", input },
        headers: { "idempotency-key": "conflict-key" },
      });
    expect((await send({ a: 1 })).status).toBe(200);
    const conflict = await send({ a: 2 });
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual(errorBody("IDEMPOTENCY_CONFLICT"));
    expect(await h.executionCount(alice.id)).toBe(1);
  });

  it("400 for an Idempotency-Key header outside the grammar", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "echo@v1" },
      headers: { "idempotency-key": "has spaces" },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("VALIDATION_ERROR");
  });

  it("an input the spell refuses answers its VALIDATION_ERROR", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "resize@v1", input: { image: "aGVsbG8=", width: 2 } },
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual(errorBody("VALIDATION_ERROR"));
  });

  it("501 BILLING_NOT_CONFIGURED for a priced spell on a server without billing", async () => {
    const alice = await h.user();
    await h.publish({
      slug: "priced@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      priceAmount: 100,
    });
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "priced@v1" },
    });
    expect(response.status).toBe(501);
    expect(response.body).toEqual(errorBody("BILLING_NOT_CONFIGURED"));
  });

  it("501 BILLING_NOT_CONFIGURED for a webhook delivery on a server without billing", async () => {
    const response = await h.call("POST", "/api/billing/webhook", {
      body: "{}",
      headers: { "stripe-signature": "t=1,v1=00" },
    });
    expect(response.status).toBe(501);
    expect(response.body).toEqual(errorBody("BILLING_NOT_CONFIGURED"));
  });
});

describe("estimate", () => {
  it("prices a spell without running it", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/estimate", {
      token: alice.token,
      body: { spell: "echo@v1" },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      ok: true,
      spell: { slug: "echo@v1", runtime: "builtin", visibility: "public" },
      price: { amount: 0, currency: "usd" },
      paymentMethodRequired: false,
      paymentMethodOnFile: false,
    });
    expect(await h.executionCount(alice.id)).toBe(0);
  });

  it("404 SPELL_NOT_FOUND for an unknown slug", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/estimate", {
      token: alice.token,
      body: { spell: "nope@v1" },
    });
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe("SPELL_NOT_FOUND");
  });
});
