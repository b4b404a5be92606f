import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { createStripeBilling, idempotencyKey, parseStripeApiBase } from "./stripe-billing.ts";
import { createFakeStripe, createMemoryBillingStore, useFakeStripe, userRecord } from "./testing/index.ts";

const { fake, server } = useFakeStripe();

const billingOver = (store = createMemoryBillingStore()) =>
  createStripeBilling({
    secretKey: "sk_test_123",
    webhookSecret: "whsec_test",
    store,
    allowedReturnOrigins: ["https://app.example.com", "http://localhost:5173/"],
  });

const urls = {
  successUrl: "https://app.example.com/billing/done",
  cancelUrl: "https://app.example.com/billing",
};

describe("customer", () => {
  it("creates one Customer for concurrent first calls in one process and across processes", async () => {
    const store = createMemoryBillingStore();
    const processA = billingOver(store);
    const processB = billingOver(store);
    const user = userRecord("user-1");

    await Promise.all([
      ...Array.from({ length: 5 }, () => processA.createCheckoutUrl(user, urls)),
      ...Array.from({ length: 5 }, () => processB.createPortalUrl(user, { returnUrl: urls.cancelUrl })),
    ]);

    expect(fake.state.customers.size).toBe(1);
    const [customer] = fake.state.customers.values();
    expect(customer?.metadata).toEqual({ user_id: "user-1" });
    expect(store.users.get("user-1")?.stripeCustomerId).toBe(customer?.id);
    const keys = new Set(fake.requestsTo("/v1/customers", "POST").map((request) => request.idempotencyKey));
    expect(keys).toEqual(new Set(["customer-create:user-1"]));
  });

  it("reuses the stored Customer without asking Stripe again", async () => {
    const store = createMemoryBillingStore();
    await store.setCustomerIdIfUnset("user-1", fake.createCustomer().id);

    await billingOver(store).createCheckoutUrl(userRecord("user-1"), urls);

    expect(fake.requestsTo("/v1/customers", "POST")).toHaveLength(0);
  });
});

describe("checkout and portal URLs", () => {
  it("creates a setup-mode Checkout Session for the user's Customer", async () => {
    const store = createMemoryBillingStore();

    const url = await billingOver(store).createCheckoutUrl(userRecord("user-1"), urls);

    expect(url).toMatch(/^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_test_/);
    const [request] = fake.requestsTo("/v1/checkout/sessions", "POST");
    expect(request?.body).toMatchObject({
      mode: "setup",
      currency: "usd",
      customer: store.users.get("user-1")?.stripeCustomerId,
      success_url: urls.successUrl,
      cancel_url: urls.cancelUrl,
    });
  });

  it("creates a Billing Portal session returning to an allowed origin", async () => {
    const store = createMemoryBillingStore();

    const url = await billingOver(store).createPortalUrl(userRecord("user-1"), {
      returnUrl: "http://localhost:5173/account",
    });

    expect(url).toMatch(/^https:\/\/billing\.stripe\.com\/p\/session\//);
    const [request] = fake.requestsTo("/v1/billing_portal/sessions", "POST");
    expect(request?.body).toEqual({
      customer: store.users.get("user-1")?.stripeCustomerId,
      return_url: "http://localhost:5173/account",
    });
  });

  it.each([
    ["another host", { successUrl: "https://evil.example.com/x", cancelUrl: urls.cancelUrl }, "successUrl"],
    ["another scheme", { successUrl: urls.successUrl, cancelUrl: "http://app.example.com/x" }, "cancelUrl"],
    [
      "another port",
      { successUrl: "https://app.example.com:8443/x", cancelUrl: urls.cancelUrl },
      "successUrl",
    ],
    [
      "a lookalike host",
      { successUrl: "https://app.example.com.evil.io/", cancelUrl: urls.cancelUrl },
      "successUrl",
    ],
    ["not a URL", { successUrl: "javascript:alert(1)", cancelUrl: urls.cancelUrl }, "successUrl"],
  ])("refuses a return URL on %s before calling Stripe", async (_name, badUrls, field) => {
    const error = await billingOver()
      .createCheckoutUrl(userRecord("user-1"), badUrls)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("VALIDATION_ERROR");
    expect((error as AppError).details.field).toBe(field);
    expect(fake.requests).toHaveLength(0);
  });

  it("refuses a portal return URL outside the allowlist", async () => {
    const error = await billingOver()
      .createPortalUrl(userRecord("user-1"), { returnUrl: "https://evil.example.com/" })
      .catch((e: unknown) => e);

    expect((error as AppError).code).toBe("VALIDATION_ERROR");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("STRIPE_API_BASE", () => {
  it("sends every request to the configured Stripe-compatible server", async () => {
    const local = createFakeStripe({ baseUrl: "http://127.0.0.1:12111" });
    server.use(...local.handlers);
    const apiBase = parseStripeApiBase("http://127.0.0.1:12111");
    expect(apiBase).toEqual(local.apiBase);
    const billing = createStripeBilling({
      secretKey: "sk_test_123",
      webhookSecret: "whsec_test",
      store: createMemoryBillingStore(),
      allowedReturnOrigins: ["https://app.example.com"],
      apiBase,
    });

    await billing.createCheckoutUrl(userRecord("user-1"), urls);

    expect(local.requests.map((request) => request.path)).toEqual(["/v1/customers", "/v1/checkout/sessions"]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("idempotency keys", () => {
  it("stay within Stripe's 255 characters for the longest user ids", () => {
    expect(idempotencyKey("customer-create", "user-1")).toBe("customer-create:user-1");
    const long = idempotencyKey("customer-create", "u".repeat(255));
    expect(long.length).toBeLessThanOrEqual(255);
    expect(long).toBe(idempotencyKey("customer-create", "u".repeat(255)));
  });
});
