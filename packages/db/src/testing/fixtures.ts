import { randomUUID } from "node:crypto";
import type { Charge, NewExecution, PublishRequest, StoredOutcome } from "@spell/engine";

/** A builtin spell publish request; override any field. */
export function publishRequest(overrides: Partial<PublishRequest> = {}): PublishRequest {
  return {
    slug: `spell-${randomUUID().slice(0, 8)}@v1`,
    runtime: "builtin",
    config: {},
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "owner",
    artifact: { builtin: "echo", apiEndpoint: null, wasmBinary: null, wasmSha256: null, metadata: {} },
    ...overrides,
  };
}

export function newExecution(
  overrides: Partial<NewExecution> & Pick<NewExecution, "userId" | "spellId">,
): NewExecution {
  return {
    id: randomUUID(),
    slug: "echo@v1",
    runtime: "builtin",
    price: { amount: 0, currency: "usd" },
    idempotencyKey: null,
    requestHash: "hash",
    ...overrides,
  };
}

/** The charge a prepaid adapter answers for a ledger reserve (`Charge.ledgerReserve`), 1 minor unit. */
export function ledgerReserveCharge(reserveId: string): Charge {
  return {
    billingRecordId: reserveId,
    paymentIntentId: `prepaid:${reserveId}`,
    amount: 1,
    currency: "usd",
    ledgerReserve: true,
  };
}

/** A stored success of `slug` whose billing is still pending (what a finish stores before settling). */
export function pendingSuccess(slug: string): StoredOutcome {
  return {
    kind: "succeeded",
    spell: { slug, runtime: "builtin" },
    output: { ok: true },
    durationMs: 3,
    billing: { charged: false, status: "pending", amount: 1, currency: "usd", billingRecordId: null },
  };
}
