import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fail, fakeApi, ok, runCli, tempDir } from "./testing/harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(() => cleanup());

const env = { SPELL_TOKEN: "tok", SPELL_API_URL: "http://127.0.0.1:9999" };

const paidResult = {
  ok: true,
  executionId: "exe_9",
  spell: { slug: "echo-paid@v1", runtime: "builtin" },
  output: { hi: 1 },
  billing: { charged: true, amount: 50, currency: "usd", billingRecordId: "bil_1" },
  durationMs: 3,
};

describe("spell billing", () => {
  it("checkout prints the URL and sends return URLs on the API's own origin by default", async () => {
    const api = fakeApi(() => ok({ ok: true, url: "https://checkout.stripe.com/c/pay/cs_test_1" }));
    const res = await runCli(["billing", "checkout"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("https://checkout.stripe.com/c/pay/cs_test_1\n");
    expect(api.sent[0]?.path).toBe("billing.checkoutUrl");
    expect(api.sent[0]?.body).toEqual({
      successUrl: "http://127.0.0.1:9999/billing/return?status=success",
      cancelUrl: "http://127.0.0.1:9999/billing/return?status=cancel",
    });
  });

  it("checkout and portal pass the given URLs", async () => {
    const api = fakeApi(() => ok({ ok: true, url: "https://billing.stripe.com/p/session/x" }));
    await runCli(
      ["billing", "checkout", "--success-url", "https://a.test/ok", "--cancel-url", "https://a.test/no"],
      {
        cwd: dir,
        env,
        fetch: api.fetch,
      },
    );
    const portal = await runCli(["billing", "portal", "--return-url", "https://a.test/back"], {
      cwd: dir,
      env,
      fetch: api.fetch,
    });
    expect(portal.stdout).toBe("https://billing.stripe.com/p/session/x\n");
    expect(api.sent.map((s) => [s.path, s.body])).toEqual([
      ["billing.checkoutUrl", { successUrl: "https://a.test/ok", cancelUrl: "https://a.test/no" }],
      ["billing.portalUrl", { returnUrl: "https://a.test/back" }],
    ]);
  });

  it("confirm prints the execution's output and what was charged", async () => {
    const api = fakeApi(() => ok(paidResult));
    const res = await runCli(["billing", "confirm", "pi_123"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ hi: 1 });
    expect(res.stderr).toContain("charged $0.50 (bil_1)");
    expect(api.sent[0]).toMatchObject({ path: "billing.confirmIntent", body: { paymentIntentId: "pi_123" } });
  });

  it("test-card saves a card with the LOCAL TEST provider over REST, saying so", async () => {
    const api = fakeApi(() => ({ json: { ok: true, paymentMethod: "pm_card_visa" } }));
    const res = await runCli(["billing", "test-card", "pm_card_visa"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("LOCAL TEST payment provider");
    expect(api.sent[0]?.path).toBe("/api/billing/local/attach");
    expect(api.sent[0]?.headers.get("authorization")).toBe("Bearer tok");
    expect(api.sent[0]?.body).toEqual({ paymentMethod: "pm_card_visa" });
  });

  it("test-card refuses an unknown card without calling the API", async () => {
    const api = fakeApi(() => ({ json: {} }));
    const res = await runCli(["billing", "test-card", "4242424242424242"], {
      cwd: dir,
      env,
      fetch: api.fetch,
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error USAGE: unknown test card/);
    expect(api.sent).toHaveLength(0);
  });

  it("a REST error body becomes `error CODE` with the matching exit code", async () => {
    const api = fakeApi(() => ({
      status: 401,
      json: {
        ok: false,
        error: { code: "UNAUTHORIZED", message: "No bearer token", details: { reason: "missing" } },
      },
    }));
    const res = await runCli(["billing", "authenticate", "pi_local_1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^error UNAUTHORIZED: No bearer token/);
  });

  it("authenticate tells what to run next", async () => {
    const api = fakeApi(() => ({ json: { ok: true, paymentIntentId: "pi_local_1" } }));
    const res = await runCli(["billing", "authenticate", "pi_local_1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("spell billing confirm pi_local_1");
    expect(api.sent[0]).toMatchObject({
      path: "/api/billing/local/authenticate",
      body: { paymentIntentId: "pi_local_1" },
    });
  });
});

describe("spell exec on a priced spell", () => {
  it("PAYMENT_REQUIRES_ACTION prints the payment intent and the next commands (local provider)", async () => {
    const api = fakeApi(() =>
      fail("PAYMENT_REQUIRES_ACTION", 402, "The payment needs the customer to authenticate", {
        paymentIntentId: "pi_local_abc",
        clientSecret: "pi_local_abc_secret_local",
        hint: "POST /api/billing/local/authenticate, then POST /api/billing/confirm-intent",
      }),
    );
    const res = await runCli(["exec", "echo-paid@v1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain("pi_local_abc");
    expect(res.stderr).toContain(
      "hint: payment pi_local_abc needs 3-D Secure (LOCAL TEST provider): spell billing authenticate pi_local_abc && spell billing confirm pi_local_abc",
    );
  });

  it("PAYMENT_REQUIRES_ACTION from Stripe points at Stripe.js, then confirm", async () => {
    const api = fakeApi(() =>
      fail("PAYMENT_REQUIRES_ACTION", 402, "The payment needs the customer to authenticate", {
        paymentIntentId: "pi_3Abc",
        clientSecret: "pi_3Abc_secret_x",
      }),
    );
    const res = await runCli(["exec", "paid@v1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain("then: spell billing confirm pi_3Abc");
  });

  it("PAYMENT_METHOD_REQUIRED prints the checkout hint", async () => {
    const api = fakeApi(() =>
      fail("PAYMENT_METHOD_REQUIRED", 402, "Save a payment method before running a priced spell", {
        hint: "POST /api/billing/checkout-url",
      }),
    );
    const res = await runCli(["exec", "paid@v1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain("hint: save a card first: `spell billing checkout`");
  });
});

describe("spell billing (prepaid)", () => {
  const window = (limit: number | null, spent: number) => ({
    limit,
    adminLimit: limit,
    userLimit: null,
    spent,
    resetsAt: "2026-12-16T00:00:00.000Z",
  });
  const balance = {
    ok: true,
    account: {
      currency: "usd",
      balance: 1_234_500,
      spendLimits: { daily: window(500_000, 10_000), monthly: window(null, 10_000) },
      autoReload: null,
    },
    recent: [],
  };

  it("balance prints the balance in dollars and the caps with their reset", async () => {
    const api = fakeApi(() => ok(balance));
    const res = await runCli(["billing", "balance"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(api.sent[0]?.path).toBe("billing.balance");
    expect(res.stdout).toContain("balance   usd 1.2345");
    expect(res.stdout).toContain("daily     usd 0.01 of usd 0.50, resets 2026-12-16T00:00:00.000Z");
    expect(res.stdout).toContain("monthly   no cap");
  });

  it("topup sends minor units with an idempotency key and prints the new balance", async () => {
    const api = fakeApi(() =>
      ok({ ok: true, paymentIntentId: "pi_1", status: "succeeded", credited: true, balance: 5_000_000 }),
    );
    const res = await runCli(["billing", "topup", "500", "-k", "key-1"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    expect(api.sent[0]).toMatchObject({
      path: "billing.topUp",
      body: { amount: 500, idempotencyKey: "key-1" },
    });
    expect(res.stdout).toBe("succeeded: balance usd 5.00 (pi_1)\n");
  });

  it("topup refuses a non-integer amount before calling the API", async () => {
    const api = fakeApi(() => ok({}));
    const res = await runCli(["billing", "topup", "1.5"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(2);
    expect(api.sent).toHaveLength(0);
  });

  it("history prints one line per entry; an insufficient balance is a typed error", async () => {
    const api = fakeApi(() =>
      ok({
        ok: true,
        entries: [
          {
            id: "e1",
            kind: "reserve",
            currency: "usd",
            amount: -500,
            balanceAfter: 9_500,
            executionId: "x",
            paymentIntentId: null,
            description: "echo-prepaid@v1",
            createdAt: "2026-12-15T10:00:00.000Z",
          },
        ],
      }),
    );
    const res = await runCli(["billing", "history", "-n", "5"], { cwd: dir, env, fetch: api.fetch });
    expect(res.stdout).toContain("reserve");
    expect(res.stdout).toContain("usd -0.0005");
    expect(api.sent[0]?.path).toBe("billing.history");

    const broke = fakeApi(() =>
      fail("INSUFFICIENT_BALANCE", 402, "The prepaid balance does not cover this spell", { missing: 500 }),
    );
    const exec = await runCli(["exec", "echo-prepaid@v1"], { cwd: dir, env, fetch: broke.fetch });
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toContain("INSUFFICIENT_BALANCE");
  });

  const refunded = {
    ok: true,
    paymentIntentId: "pi_1",
    refundId: "re_1",
    status: "succeeded",
    amount: 70,
    currency: "usd",
    userId: "usr_1",
    balance: 300_000,
  };

  it("refund sends the amount and the given key and prints what went back and the balance", async () => {
    const api = fakeApi(() => ok(refunded));
    const res = await runCli(["billing", "refund", "pi_1", "--amount", "70", "-k", "rk-1"], {
      cwd: dir,
      env,
      fetch: api.fetch,
    });
    expect(res.code).toBe(0);
    expect(api.sent[0]).toMatchObject({
      path: "billing.refundTopUp",
      body: { paymentIntentId: "pi_1", amount: 70, idempotencyKey: "rk-1" },
    });
    expect(res.stdout).toBe("refunded $0.70 of pi_1 to the card (re_1); balance usd 0.30 (usr_1)\n");
    expect(res.stderr).toBe("");
  });

  it("refund without a key generates one, sends it and prints it for a retry; --json is the answer", async () => {
    const api = fakeApi(() => ok(refunded));
    const res = await runCli(["billing", "refund", "pi_1", "--json"], { cwd: dir, env, fetch: api.fetch });
    expect(res.code).toBe(0);
    const body = api.sent[0]?.body as Record<string, unknown>;
    expect(body).not.toHaveProperty("amount");
    expect(body.idempotencyKey).toMatch(/^cli-refund-[0-9a-f-]{36}$/);
    expect(res.stderr).toBe(`idempotency key: ${String(body.idempotencyKey)}\n`);
    expect(JSON.parse(res.stdout)).toEqual(refunded);
    const again = await runCli(["billing", "refund", "pi_1"], { cwd: dir, env, fetch: api.fetch });
    expect(api.sent[1]?.body).not.toMatchObject({ idempotencyKey: body.idempotencyKey });
    expect(again.stdout).toContain("refunded $0.70");
  });

  it("refund refuses a non-integer amount before calling the API", async () => {
    const api = fakeApi(() => ok(refunded));
    for (const amount of ["0", "1.5", "ten"]) {
      const res = await runCli(["billing", "refund", "pi_1", "--amount", amount], {
        cwd: dir,
        env,
        fetch: api.fetch,
      });
      expect(res.code, amount).toBe(2);
      expect(res.stderr).toMatch(/^error USAGE: --amount must be a positive integer/);
    }
    expect(api.sent).toHaveLength(0);
  });

  it("refund errors keep their exit codes and hints; --json prints the error body with the key", async () => {
    const cases = [
      {
        answer: fail("VALIDATION_ERROR", 400, "More than the unspent part of this top-up", {
          field: "amount",
          reason: "exceeds_unspent",
          refundable: 30,
          requested: 70,
          currency: "usd",
        }),
        code: 2,
        hint: "at most 30 minor units of this top-up are refundable now",
      },
      {
        answer: fail("SERVICE_UNAVAILABLE", 503, "Stripe is unreachable", { retryable: true }),
        code: 1,
        hint: "retry with the same key, it never refunds twice: --idempotency-key rk-9",
      },
      {
        answer: fail("IDEMPOTENCY_CONFLICT", 409, "This idempotency key was used for another refund", {
          amount: 40,
        }),
        code: 1,
        hint: "this key already refunded 40 minor units",
      },
      { answer: fail("BILLING_FAILED", 402, "Stripe refused this refund", {}), code: 4, hint: undefined },
      {
        answer: fail("NOT_FOUND", 404, "No such top-up", { paymentIntentId: "pi_1" }),
        code: 1,
        hint: undefined,
      },
      { answer: fail("USER_BANNED", 403, "banned", {}), code: 3, hint: undefined },
    ];
    for (const { answer, code, hint } of cases) {
      const api = fakeApi(() => answer);
      const res = await runCli(["billing", "refund", "pi_1", "--amount", "70", "-k", "rk-9"], {
        cwd: dir,
        env,
        fetch: api.fetch,
      });
      const errorCode = answer.json.error.data.code;
      expect(res.code, errorCode).toBe(code);
      expect(res.stderr).toMatch(new RegExp(`^error ${errorCode}: `));
      if (hint) expect(res.stderr).toContain(`hint: ${hint}`);
      const json = await runCli(["billing", "refund", "pi_1", "--amount", "70", "-k", "rk-9", "--json"], {
        cwd: dir,
        env,
        fetch: api.fetch,
      });
      expect(json.code, errorCode).toBe(code);
      expect(JSON.parse(json.stdout)).toMatchObject({
        ok: false,
        error: { code: errorCode, details: { ...answer.json.error.data.details, idempotencyKey: "rk-9" } },
      });
    }
  });
});
