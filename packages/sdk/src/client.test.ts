import { createServer } from "node:net";
import { ERROR_STATUS, type ErrorCode } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createSpellClient, type SpellFetch } from "./client.ts";
import { SpellError } from "./errors.ts";

interface Recorded {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

/** A fetch that answers like a tRPC server would and records what the client sent. */
function fakeServer(status: number, body: unknown) {
  const requests: Recorded[] = [];
  const fetch: SpellFetch = async (url, init) => {
    const text = typeof init?.body === "string" ? init.body : undefined;
    requests.push({
      url,
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: text === undefined ? undefined : JSON.parse(text),
    });
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  };
  return { fetch, requests };
}

function errorBody(code: string, message: string, details: Record<string, unknown>, httpStatus: number) {
  return { error: { message, code: -32600, data: { code, httpStatus, details, path: "spell.execute" } } };
}

async function rejection(promise: Promise<unknown>): Promise<SpellError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpellError);
  return error as SpellError;
}

describe("createSpellClient", () => {
  it("posts execute to /trpc with the bearer token and returns the result", async () => {
    const result = {
      ok: true,
      executionId: "exe_1",
      spell: { slug: "echo@v1", runtime: "builtin" },
      output: { hello: "world" },
      billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
      durationMs: 1,
    };
    const server = fakeServer(200, { result: { data: result } });
    const client = createSpellClient({ baseUrl: "http://spell.test/", token: "t0k", fetch: server.fetch });

    await expect(client.execute("echo@v1", { hello: "world" }, { idempotencyKey: "k-1" })).resolves.toEqual(
      result,
    );

    const [request] = server.requests;
    expect(request?.url).toBe("http://spell.test/trpc/spell.execute");
    expect(request?.method).toBe("POST");
    expect(request?.headers.get("authorization")).toBe("Bearer t0k");
    expect(request?.body).toEqual({ spell: "echo@v1", input: { hello: "world" }, idempotencyKey: "k-1" });
  });

  it("sends no authorization header without a token", async () => {
    const server = fakeServer(200, { result: { data: { ok: true, spells: [] } } });
    const client = createSpellClient({ baseUrl: "http://spell.test", fetch: server.fetch });
    await client.listSpells();
    expect(server.requests[0]?.headers.has("authorization")).toBe(false);
    expect(server.requests[0]?.method).toBe("GET");
  });
});

describe("billing.refundTopUp", () => {
  it("posts the refund to billing.refundTopUp and answers the refund", async () => {
    const answer = {
      ok: true,
      paymentIntentId: "pi_1",
      refundId: "re_1",
      status: "succeeded",
      amount: 40,
      currency: "usd",
      userId: "usr_1",
      balance: 600_000,
    };
    const server = fakeServer(200, { result: { data: answer } });
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });

    await expect(
      client.billing.refundTopUp({ paymentIntentId: "pi_1", amount: 40, idempotencyKey: "rk-1" }),
    ).resolves.toEqual(answer);
    expect(server.requests[0]).toMatchObject({
      url: "http://spell.test/trpc/billing.refundTopUp",
      method: "POST",
      body: { paymentIntentId: "pi_1", amount: 40, idempotencyKey: "rk-1" },
    });
  });

  it("rejects with the server's code when more than the unspent part is asked", async () => {
    const details = { field: "amount", reason: "exceeds_unspent", refundable: 0, requested: 10 };
    const server = fakeServer(400, errorBody("VALIDATION_ERROR", "More than the unspent part", details, 400));
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const error = await rejection(
      client.billing.refundTopUp({ paymentIntentId: "pi_1", amount: 10, idempotencyKey: "rk-2" }),
    );
    expect(error).toMatchObject({ code: "VALIDATION_ERROR", status: 400, details });
  });
});

describe("SpellError mapping", () => {
  const cases: Array<{ code: ErrorCode; details: Record<string, unknown> }> = [
    { code: "VALIDATION_ERROR", details: { issues: [{ path: ["spell"], message: "bad slug" }] } },
    { code: "UNAUTHORIZED", details: { reason: "expired" } },
    { code: "USER_BANNED", details: {} },
    { code: "VISIBILITY_DENIED", details: { visibility: "team" } },
    { code: "SPELL_NOT_FOUND", details: { slug: "nope@v1" } },
    { code: "IDEMPOTENCY_CONFLICT", details: {} },
    { code: "PAYMENT_METHOD_REQUIRED", details: {} },
    { code: "BILLING_NOT_CONFIGURED", details: {} },
    { code: "RUNTIME_TIMEOUT", details: { timeoutMs: 5000 } },
  ];

  it.each(cases)("reads $code and its details from error.data", async ({ code, details }) => {
    const status = ERROR_STATUS[code];
    const server = fakeServer(status, errorBody(code, `failed with ${code}`, details, status));
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });

    const error = await rejection(client.execute("echo@v1", {}));
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.details).toEqual(details);
    expect(error.message).toBe(`failed with ${code}`);
    expect(error.isNetworkError).toBe(false);
  });

  it("falls back to tRPC's own code when the server did not set ours", async () => {
    const server = fakeServer(404, {
      error: { message: "No procedure found", code: -32004, data: { code: "NOT_FOUND", httpStatus: 404 } },
    });
    const client = createSpellClient({ baseUrl: "http://spell.test", fetch: server.fetch });
    const error = await rejection(client.me());
    expect(error.code).toBe("NOT_FOUND");
    expect(error.status).toBe(404);
    expect(error.details).toEqual({});
  });

  it("reports a refused connection as SERVICE_UNAVAILABLE with status 0", async () => {
    const port = await closedPort();
    const client = createSpellClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t" });
    const error = await rejection(client.me());
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(error.status).toBe(0);
    expect(error.isNetworkError).toBe(true);
    expect(error.message).toContain(`unreachable at http://127.0.0.1:${port}: connect ECONNREFUSED`);
    expect(error.details.baseUrl).toBe(`http://127.0.0.1:${port}`);
  });

  it("reports a non-JSON answer (a proxy's HTML page) by its HTTP status", async () => {
    const fetch: SpellFetch = async () =>
      new Response("<html>Bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } });
    const client = createSpellClient({ baseUrl: "http://spell.test", fetch });
    const error = await rejection(client.estimate("echo@v1"));
    expect(error.code).toBe("SERVICE_UNAVAILABLE");
    expect(error.status).toBe(502);
  });
});

/** A loopback port with nothing listening: bind one, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
