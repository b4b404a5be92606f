import type { RuntimeKind } from "@spell/contracts";
import type { EngineDeps } from "./engine-types.ts";
import type { AdminStore, Billing, Clock, ExecutionLog, Runtime, SpellStore, UserStore } from "./ports.ts";

/** What every use case is built from: the ports and settings, resolved once when the engine is made. */
export interface EngineContext {
  authenticate: EngineDeps["authenticate"];
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
  billing: Billing;
  runtimes: ReadonlyMap<RuntimeKind, Runtime>;
  clock: Clock;
  duplicateWaitMs: number;
  staleRunningMs: number;
}

const systemClock: Clock = { now: () => new Date(), monotonicMs: () => performance.now() };

export function createEngineContext(deps: EngineDeps): EngineContext {
  const runtimes = new Map<RuntimeKind, Runtime>();
  for (const runtime of deps.runtimes) {
    // Two adapters for one kind is a wiring mistake; silently keeping one would hide it.
    if (runtimes.has(runtime.kind)) throw new Error(`Two ${runtime.kind} runtimes were given to the engine`);
    runtimes.set(runtime.kind, runtime);
  }
  return {
    authenticate: deps.authenticate,
    users: deps.users,
    admin: deps.admin,
    spells: deps.spells,
    executions: deps.executions,
    billing: deps.billing,
    runtimes,
    clock: deps.clock ?? systemClock,
    duplicateWaitMs: deps.duplicateWaitMs ?? 60_000,
    staleRunningMs: deps.staleRunningMs ?? 10 * 60_000,
  };
}
