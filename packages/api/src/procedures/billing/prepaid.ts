import { AppError } from "@spell/contracts";
import type { Engine, PrepaidOperations } from "@spell/engine";

/** The engine's prepaid use cases; an engine without them (a test double) has no prepaid billing. */
export function prepaidOf(engine: Engine): PrepaidOperations {
  if (!engine.prepaid) {
    throw new AppError("BILLING_NOT_CONFIGURED", "Prepaid billing is not enabled on this server", {});
  }
  return engine.prepaid;
}
