export { createEngine } from "./engine.ts";
export type {
  Access,
  Authenticate,
  Engine,
  EngineDeps,
  ExecuteRequest,
  Session,
  VerifiedCaller,
} from "./engine-types.ts";
export { canonicalJson, hashExecutionRequest } from "./execute/request-hash.ts";
export type {
  AdminStore,
  ArtifactDescription,
  ArtifactRecord,
  BeginResult,
  Billing,
  BillingSummary,
  Charge,
  ChargeRequest,
  Clock,
  ExecutionLog,
  NewExecution,
  PreparedArtifact,
  PublishRequest,
  Runtime,
  RuntimeArtifact,
  RuntimeInvocation,
  RuntimeResult,
  SpellLookup,
  SpellRecord,
  SpellStore,
  StoredExecution,
  StoredOutcome,
  UserRecord,
  UserStore,
} from "./ports.ts";
export { attachRuntimeLog, runtimeLogOf } from "./runtime-log.ts";
export { canRun } from "./visibility.ts";
