import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StripeSimServer, startStripeSimServer } from "./server.ts";

let server: StripeSimServer;
beforeAll(async () => {
  server = await startStripeSimServer();
});
afterAll(() => server.close());

describe("the simulation over loopback HTTP", () => {
  it("answers form-encoded requests with Stripe's JSON and headers", async () => {
    const response = await fetch(`${server.url}/v1/customers`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "idempotency-key": "k1" },
      body: "metadata[user_id]=u1",
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("idempotency-key")).toBe("k1");
    const customer = (await response.json()) as { id: string };
    expect(customer).toMatchObject({ object: "customer", metadata: { user_id: "u1" } });

    const read = await fetch(`${server.url}/v1/customers/${customer.id}`);
    expect(await read.json()).toEqual(customer);
    expect(server.sim.requestsTo(`/v1/customers/${customer.id}`, "GET")).toHaveLength(1);
  });

  it("drops the connection for a network failure", async () => {
    server.sim.failNext("/v1/customers", "network");
    await expect(fetch(`${server.url}/v1/customers`, { method: "POST", body: "" })).rejects.toThrow();
    expect(server.sim.state.failures).toHaveLength(0);
  });

  it("listens on loopback only and gives the SDK's apiBase", () => {
    expect(server.apiBase).toEqual({
      host: "127.0.0.1",
      port: Number(new URL(server.url).port),
      protocol: "http",
    });
  });
});
