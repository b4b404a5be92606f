import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "./testutil/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());

describe("POST /api/spell/execute", () => {
  it("runs echo@v1 and answers the documented success body", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "echo@v1", input: { hello: "world", n: 1 } },
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      ok: true,
      executionId: expect.any(String),
      spell: { slug: "echo@v1", runtime: "builtin" },
      output: { hello: "world", n: 1 },
      billing: { charged: false, status: "not_charged", amount: 0, currency: "usd", billingRecordId: null },
      durationMs: expect.any(Number),
    });
    expect(await h.executionCount(alice.id)).toBe(1);
  });

  it("defaults a missing input to {}", async () => {
    const alice = await h.user();
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "echo@v1" },
    });
    expect(response.status).toBe(200);
    expect(response.body.output).toEqual({});
  });

  it("is the same procedure on tRPC", async () => {
    const alice = await h.user();
    const result = await h
      .trpc(alice.token)
      .spell.execute.mutate({ spell: "echo@v1", input: { via: "trpc" } });
    expect(result).toMatchObject({ ok: true, spell: { slug: "echo@v1" }, output: { via: "trpc" } });
  });

  it("runs resize@v1 on a real image", async () => {
    const alice = await h.user();
    // A 4x4 red PNG.
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEUlEQVQImWP4z8AARwgWXg4ArpMP8bh5W0YAAAAASUVORK5CYII=";
    const response = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "resize@v1", input: { image: png, width: 2 } },
    });
    expect(response.status).toBe(200);
    expect(response.body.output).toMatchObject({ width: 2, height: 2 });
  });
});

describe("idempotency", () => {
  it("replays the first result for the same Idempotency-Key and runs once", async () => {
    const alice = await h.user();
    const request = {
      token: alice.token,
      body: { spell: "echo@v1", input: { a: 1 } },
      headers: { "idempotency-key": "key-replay-1" },
    };
    const first = await h.call("POST", "/api/spell/execute", request);
    const second = await h.call("POST", "/api/spell/execute", request);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.executionId).toBe(first.body.executionId);
    expect(second.body.output).toEqual(first.body.output);
    expect(await h.executionCount(alice.id)).toBe(1);
  });

  it("takes the key from the body as well, across transports", async () => {
    const alice = await h.user();
    const viaRest = await h.call("POST", "/api/spell/execute", {
      token: alice.token,
      body: { spell: "echo@v1", input: { b: 2 }, idempotencyKey: "body-key" },
    });
    const viaTrpc = await h
      .trpc(alice.token)
      .spell.execute.mutate({ spell: "echo@v1", input: { b: 2 }, idempotencyKey: "body-key" });
    expect(viaTrpc.executionId).toBe(viaRest.body.executionId);
    expect(await h.executionCount(alice.id)).toBe(1);
  });

  it("resolves 20 concurrent duplicates to one execution", async () => {
    const alice = await h.user();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        h.call("POST", "/api/spell/execute", {
          token: alice.token,
          body: { spell: "echo@v1", input: { burst: true } },
          headers: { "idempotency-key": "burst-key" },
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(responses.map((r) => r.body.executionId)).size).toBe(1);
    expect(await h.executionCount(alice.id)).toBe(1);
  });

  it("keys are per user: another user's same key runs separately", async () => {
    const alice = await h.user();
    const bob = await h.user();
    const send = (token: string) =>
      h.call("POST", "/api/spell/execute", {
        token,
        body: { spell: "echo@v1" },
        headers: { "idempotency-key": "shared-key" },
      });
    const a = await send(alice.token);
    const b = await send(bob.token);
    expect(a.body.executionId).not.toBe(b.body.executionId);
  });
});

describe("publish then execute", () => {
  it("a publish through one API instance is run by another immediately", async () => {
    const other = await h.startInstance();
    const alice = await h.user();
    await h.publish({
      slug: "swap@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      metadata: { description: "first" },
    });
    const first = await fetch(`${other.url}/api/spells`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    const listed = (await first.json()) as { spells: Array<{ slug: string; description: string | null }> };
    expect(listed.spells.find((s) => s.slug === "swap@v1")?.description).toBe("first");

    await h.publish({
      slug: "swap@v1",
      runtime: "builtin",
      artifact: { builtin: "resize" },
      metadata: { description: "second" },
    });
    const run = await fetch(`${other.url}/api/spell/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
      body: JSON.stringify({ spell: "swap@v1", input: { hello: "world" } }),
    });
    // The resize artifact now answers: echo would have returned the input unchanged.
    expect(run.status).toBe(400);
    expect(((await run.json()) as { error: { code: string } }).error.code).toBe("VALIDATION_ERROR");
    await other.close();
  });
});
