import { randomUUID } from "node:crypto";
import type { NewExecution, PublishRequest } from "@spell/engine";

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
