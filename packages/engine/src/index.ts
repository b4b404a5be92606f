export { canPublish, PUBLISH_SCOPE } from "./access.ts";
export type { AsyncOptions, ExecutionOperations } from "./async/operations.ts";
export type { AuthorOperations } from "./authors/operations.ts";
export { createEngine } from "./engine.ts";
export type {
  Access,
  Authenticate,
  Engine,
  EngineDeps,
  ExecuteRequest,
  ExecutionNotes,
  RunWebhooks,
  Session,
  VerifiedCaller,
} from "./engine-types.ts";
export { canonicalJson, hashExecutionRequest } from "./execute/request-hash.ts";
export type {
  AdminStore,
  ArtifactDescription,
  ArtifactRecord,
  ArtifactVersionRecord,
  AsyncExecutionStore,
  AuthorScope,
  AuthorStore,
  BeginResult,
  Billing,
  BillingSummary,
  Charge,
  ChargeRequest,
  ChargeStatus,
  Clock,
  ExecutionLog,
  ExecutionRecord,
  JsonSchema,
  NewExecution,
  PreparedArtifact,
  PublishRequest,
  QueuedRun,
  RunDetailRecord,
  RunQuery,
  RunQueue,
  RunRecord,
  Runtime,
  RuntimeArtifact,
  RuntimeInvocation,
  RuntimeResult,
  SchemaIssue,
  SchemaProblem,
  SchemaValidator,
  SettlementOrder,
  SettleResult,
  SpellLookup,
  SpellRecord,
  SpellStore,
  SpellUpdate,
  StatsQuery,
  StatsRow,
  StoredExecution,
  StoredOutcome,
  UserRecord,
  UserStore,
} from "./ports.ts";
export { attachRuntimeLog, runtimeLogOf } from "./runtime-log.ts";
export type { PrepaidOperations } from "./spend-limits/operations.ts";
export type {
  AutoReloadSettings,
  ExecutionRateLimits,
  PrepaidAccounts,
  RateLimitState,
  SpendLimitChange,
  TopUpRequest,
} from "./spend-limits/ports.ts";
export { canRun } from "./visibility.ts";
