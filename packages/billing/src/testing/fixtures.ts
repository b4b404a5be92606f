import type { Price } from "@spell/contracts";
import type { SpellRecord, UserRecord } from "@spell/engine";
import { spellRecord as engineSpellRecord } from "@spell/engine/testing";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createFakeStripe } from "./fake-stripe.ts";

/** Records shaped like the database's, for this package's tests. */
export function userRecord(id: string, overrides: Partial<UserRecord> = {}): UserRecord {
  return {
    id,
    status: "active",
    stripeCustomerId: null,
    hasPaymentMethod: false,
    createdAt: new Date("2026-01-01T00:00:00Z"),
    ...overrides,
  };
}

export function spellRecord(price: Price = { amount: 150, currency: "usd" }): SpellRecord {
  return engineSpellRecord({
    id: "8f0c6a52-0b7e-4d53-9a43-3d1f1a0c2b11",
    slug: "resize@v1",
    price,
    createdBy: "author",
    artifact: { id: "art-1", builtin: "resize", apiEndpoint: null, wasmSha256: null, metadata: {} },
  });
}

/** The fake Stripe behind msw for one test file: real SDK requests, unhandled ones fail the test. */
export function useFakeStripe() {
  const fake = createFakeStripe();
  const server = setupServer(...fake.handlers);
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => {
    server.resetHandlers();
    fake.reset();
  });
  afterAll(() => server.close());
  return { fake, server };
}
