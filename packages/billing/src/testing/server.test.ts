import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStripeBilling } from "../stripe-billing.ts";
import {
  createMemoryBillingStore,
  type FakeStripeServer,
  spellRecord,
  startFakeStripeServer,
  userRecord,
} from "./index.ts";

let stripeServer: FakeStripeServer;
beforeAll(async () => {
  stripeServer = await startFakeStripeServer();
});
afterAll(() => stripeServer.close());

describe("fake Stripe over HTTP", () => {
  it("two billing instances (two API processes) charging one execution make one PaymentIntent", async () => {
    const store = createMemoryBillingStore();
    const processes = [0, 1].map(() =>
      createStripeBilling({
        secretKey: "sk_test_123",
        webhookSecret: "whsec_test",
        store,
        allowedReturnOrigins: [],
        apiBase: stripeServer.apiBase,
        maxNetworkRetries: 2,
      }),
    );
    const customer = stripeServer.fake.createCustomer({ user_id: "user-1" });
    await store.setCustomerIdIfUnset("user-1", customer.id);
    await store.setDefaultPaymentMethod(customer.id, "pm_card_visa");
    const user = userRecord("user-1", { stripeCustomerId: customer.id, hasPaymentMethod: true });
    const spell = spellRecord();
    stripeServer.fake.failNext("/v1/payment_intents", "network-after-commit");

    const charges = await Promise.all(
      processes.map((billing) => billing.charge({ executionId: "exe-1", user, spell, price: spell.price })),
    );

    expect(charges[0]).toEqual(charges[1]);
    expect(stripeServer.fake.state.paymentIntents.size).toBe(1);
  });
});
