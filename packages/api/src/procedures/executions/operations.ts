import { AppError } from "@spell/contracts";
import type { Engine, ExecutionOperations } from "@spell/engine";

/** The engine's asynchronous-execution operations; an engine built without them cannot serve these routes. */
export function executionsOf(engine: Engine): ExecutionOperations {
  if (!engine.executions) {
    throw new AppError("SERVICE_UNAVAILABLE", "Asynchronous executions are not available on this server", {
      reason: "async_unavailable",
    });
  }
  return engine.executions;
}
