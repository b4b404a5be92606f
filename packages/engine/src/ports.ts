import type {
  AppError,
  ArtifactInput,
  ErrorBody,
  ExecutionStatus,
  JsonObject,
  MeOutput,
  Price,
  RuntimeKind,
  RunWebhook,
  TokenSpendCap,
  Visibility,
} from "@spell/contracts";
import type { ExecutionRateLimits, PrepaidAccounts } from "./spend-limits/ports.ts";

/**
 * The engine's ports. The pipeline talks only to these interfaces; the Prisma, Stripe and worker-pool
 * adapters live in other packages and in-memory ones live in `testing/`.
 */

export interface UserRecord {
  id: string;
  status: "active" | "banned";
  stripeCustomerId: string | null;
  hasPaymentMethod: boolean;
  /**
   * The saved card's id, when the read that produced this record carried it (the execute path's
   * user-and-spell read does): the card adapter then charges without reading the user again.
   * Absent: not read, ask the store. Read within the request, never cached across requests.
   */
  defaultPaymentMethodId?: string | null;
  createdAt: Date;
}

export interface UserStore {
  /** The user for a verified `sub`; the row is created the first time that `sub` is seen. */
  ensureUser(userId: string): Promise<UserRecord>;
  /**
   * The hot path's single read: the caller (created on first sight) and, only when the caller is not
   * banned, the spell with its artifact and the caller's team membership. For a banned caller the
   * spell is never read (`lookup` is null); `lookup` is also null when no such slug exists.
   */
  ensureUserWithSpell(
    userId: string,
    slug: string,
  ): Promise<{ user: UserRecord; lookup: SpellLookup | null }>;
  /** The caller's profile and recent usage for `GET /api/me`. */
  /** Given the user record this request already read (the session's), the user is not read again. */
  describe(
    userOrId: string | UserRecord,
    recentLimit: number,
  ): Promise<{ user: UserRecord; usage: MeOutput["usage"] }>;
}

export interface AdminStore {
  /** Bans a user (creating the row if the user was never seen) and records the reason. */
  banUser(userId: string, reason: string, bannedBy: string): Promise<void>;
  unbanUser(userId: string): Promise<void>;
  setTeamMembership(teamId: string, userId: string, member: boolean): Promise<void>;
}

export interface ArtifactRecord {
  id: string;
  /** The builtin's name, for `builtin` spells. */
  builtin: string | null;
  /** The upstream URL, for `api` spells. */
  apiEndpoint: string | null;
  /** Hex sha256 of the wasm binary, for `wasm` spells: the compiled-module cache key. */
  wasmSha256: string | null;
  metadata: JsonObject;
}

export interface SpellRecord {
  id: string;
  slug: string;
  runtime: RuntimeKind;
  config: JsonObject;
  price: Price;
  visibility: Visibility;
  teamId: string | null;
  createdBy: string;
  artifact: ArtifactRecord;
  /** Set (true) while the spell is unpublished: execute and estimate answer SPELL_DISABLED. */
  disabled?: boolean;
}

export interface SpellLookup {
  spell: SpellRecord;
  /** Whether the caller belongs to the spell's team (false when the spell has no team). */
  callerIsTeamMember: boolean;
}

/** A validated artifact ready to store; exactly one of the three is set, matching the runtime. */
export interface PreparedArtifact {
  builtin: string | null;
  apiEndpoint: string | null;
  wasmBinary: Uint8Array | null;
  wasmSha256: string | null;
  metadata: JsonObject;
}

export interface PublishRequest {
  slug: string;
  runtime: RuntimeKind;
  config: JsonObject;
  price: Price;
  visibility: Visibility;
  teamId: string | null;
  createdBy: string;
  artifact: PreparedArtifact;
  /** Who publishes this version (`artifacts.created_by`); default: `createdBy`. */
  publishedBy?: string;
  /**
   * The ownership check's read, held to at write time: `null` creates the spell only if the slug is
   * still free, an id replaces only that spell's artifact; either way a lost race is FORBIDDEN and
   * nothing is written. Unset: create or replace (seeding, tests).
   */
  expectSpellId?: string | null;
}

export interface SpellStore {
  /** The current version of a spell with its artifact, in one read; null when no such slug. */
  findBySlug(slug: string, callerId: string): Promise<SpellLookup | null>;
  /** Every spell the caller may run (public, own private, own teams'). */
  listRunnable(callerId: string): Promise<SpellRecord[]>;
  /** Creates the spell or replaces its artifact, in one transaction; visible to the next read. */
  publish(request: PublishRequest): Promise<SpellRecord>;
  /** The wasm bytes of an artifact (read only on a compiled-module cache miss). */
  loadWasmBinary(artifactId: string): Promise<Uint8Array>;
}

/** Which spells an author view covers: every spell (admins), or the user's own and, with `teams`, their teams'. */
export interface AuthorScope {
  all: boolean;
  userId: string;
  teams: boolean;
}

export interface ArtifactVersionRecord {
  artifactId: string;
  runtime: RuntimeKind;
  /** Hex sha256 of the wasm binary, the builtin's name or the upstream URL. */
  sha256: string;
  createdBy: string | null;
  createdAt: Date;
}

/** An explicit update: only the fields set change; `metadata` makes a new version of the same artifact. */
export interface SpellUpdate {
  visibility?: Visibility;
  teamId?: string | null;
  price?: Price;
  metadata?: JsonObject;
  updatedBy: string;
}

export interface RunRecord {
  executionId: string;
  spellId: string;
  slug: string;
  runtime: RuntimeKind;
  artifactId: string | null;
  status: ExecutionStatus;
  errorCode: string | null;
  durationMs: number | null;
  callerId: string;
  /** The caller lets authors see their id. */
  callerShares: boolean;
  price: Price;
  charged: boolean;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface RunDetailRecord extends RunRecord {
  log: string | null;
  outcome: StoredOutcome | null;
  /** The run's spell, for the access check. */
  spellCreatedBy: string;
  spellTeamId: string | null;
  callerIsTeamMember: boolean;
}

export interface RunQuery {
  scope: AuthorScope;
  spellId?: string;
  status?: ExecutionStatus;
  from?: Date;
  to?: Date;
  /** Keyset paging: runs strictly older than this one. */
  before?: { createdAt: Date; id: string };
  limit: number;
}

export interface StatsQuery {
  scope: AuthorScope;
  spellId?: string;
  period: "day" | "month";
  from?: Date;
  to?: Date;
}

export interface StatsRow {
  slug: string;
  periodStart: Date;
  runs: number;
  succeeded: number;
  failed: number;
  revenue: Price[];
}

/** Authors' management and views (issue 12); every decision about who may is the engine's. */
export interface AuthorStore {
  isTeamMember(teamId: string, userId: string): Promise<boolean>;
  /** Applies an update in one transaction and answers the spell as it now is. */
  update(spellId: string, update: SpellUpdate): Promise<SpellRecord>;
  /** Every artifact version of the spell, oldest first. */
  listVersions(spellId: string): Promise<ArtifactVersionRecord[]>;
  /** Re-points the spell at one of its own artifacts in one statement; null when it is not the spell's. */
  rollback(spellId: string, artifactId: string): Promise<SpellRecord | null>;
  setDisabled(spellId: string, disabled: boolean): Promise<SpellRecord>;
  listRuns(query: RunQuery): Promise<RunRecord[]>;
  getRun(executionId: string, callerId: string): Promise<RunDetailRecord | null>;
  stats(query: StatsQuery): Promise<StatsRow[]>;
  setShareIdentity(userId: string, share: boolean): Promise<void>;
}

/** What a finished execution answers on a replay with the same idempotency key. */
export type StoredOutcome =
  | {
      kind: "succeeded";
      spell: { slug: string; runtime: RuntimeKind };
      output: unknown;
      billing: BillingSummary;
      durationMs: number;
    }
  | { kind: "failed"; error: ErrorBody["error"] };

export interface StoredExecution {
  id: string;
  userId: string;
  spellId: string;
  slug: string;
  requestHash: string;
  status: ExecutionStatus;
  outcome: StoredOutcome | null;
}

export interface NewExecution {
  id: string;
  userId: string;
  spellId: string;
  slug: string;
  runtime: RuntimeKind;
  price: Price;
  idempotencyKey: string | null;
  /** sha256 over the slug and the canonical input: a reused key with another request is a conflict. */
  requestHash: string;
}

/** What `finish` did beyond storing the outcome; nothing (or `settled: false`) for most stores. */
export interface FinishResult {
  /** The order's ledger reserve (`Charge.ledgerReserve`) was debited or released in the same statement. */
  settled: boolean;
}

export type BeginResult = { kind: "started" } | { kind: "existing"; execution: StoredExecution };

export interface BeginOptions {
  /**
   * The row may be committed without waiting for its durable write (PostgreSQL's asynchronous
   * commit): other sessions see it at once, and the next synchronous commit on any connection
   * makes it durable too (the log is flushed in order). Only a database crash within a fraction
   * of a second can lose it, and only together with everything committed after it. The pipeline
   * asks for it for a priced execution without an idempotency key, whose next write guards the
   * money: the billing record (its foreign key refuses a lost row, and the authorization is
   * released) or the finish of a ledger reserve (a lost row is not answered, nothing is charged).
   * Stores without such a commit mode ignore it.
   */
  asynchronousCommit?: boolean;
}

export interface ExecutionLog {
  /**
   * Records a `running` execution before any money moves. With an idempotency key, the (user, key)
   * uniqueness decides between concurrent duplicates: exactly one caller gets `started`.
   */
  begin(execution: NewExecution, options?: BeginOptions): Promise<BeginResult>;
  /** Re-reads an execution (to wait for a concurrent duplicate to finish). */
  get(executionId: string): Promise<StoredExecution | null>;
  /**
   * Marks the execution finished, storing what a replay must answer and the runtime's log. With a
   * `settlement`, the payment's pending capture or cancel is recorded in the same atomic write: an
   * answer is never stored without the work that settles its money, nor that work without the answer.
   */
  finish(
    executionId: string,
    outcome: StoredOutcome,
    finishedAt: Date,
    log?: string | null,
    settlement?: SettlementOrder | null,
    // biome-ignore lint/suspicious/noConfusingVoidType: stores that only store (the memory one, the async worker's wrapper) return nothing.
  ): Promise<FinishResult | void>;
  /**
   * Marks the execution as waiting for the customer to complete a payment, keeping the input to run
   * later and the 402 error that replays answer meanwhile.
   */
  markPendingPayment(
    executionId: string,
    pending: { input: JsonObject; error: ErrorBody["error"] },
  ): Promise<void>;
  /**
   * Atomically moves a `pending_payment` execution to `running` and returns its stored input; null
   * when it is not pending (already claimed by a concurrent confirmation, finished, or unknown).
   */
  claimPendingPayment(executionId: string): Promise<{ input: JsonObject } | null>;
  /**
   * Lets a retry with the same key take the execution over, under the same execution id — and so the
   * same payment-provider idempotency key, which makes a second charge impossible. Allowed for a
   * charge that failed for a passing reason (stored with `details.retryable`) and for a `running`
   * attempt older than `staleAfterMs` (its process died). Atomic: false when another retry won or the
   * attempt is still alive.
   */
  reopenForRetry(executionId: string, staleAfterMs: number): Promise<boolean>;
  /**
   * A finished execution without idempotency key written once, with no row before: a free one
   * after its run, or a priced one refused by `Billing.chargeAtBegin` (nothing was taken). Adapters
   * may group concurrent calls into one statement and commit them asynchronously; the promise
   * resolves once the row is stored.
   */
  record(
    execution: NewExecution,
    outcome: StoredOutcome,
    finishedAt: Date,
    log?: string | null,
  ): Promise<void>;
}

/**
 * What the caller was told about the money: `charged` (captured), `not_charged` (nothing taken, or
 * the authorization released) or `pending` (the capture is recorded and will be carried out).
 */
export type ChargeStatus = "charged" | "not_charged" | "pending";

/** The money work an outcome leaves behind: capture after a stored answer, cancel otherwise. */
export interface SettlementOrder {
  action: "capture" | "cancel";
  charge: Charge;
}

export interface BillingSummary {
  charged: boolean;
  status?: ChargeStatus;
  /** Set when the capture is recorded but Stripe has not confirmed it yet. */
  pending?: boolean;
  amount: number;
  currency: string;
  billingRecordId: string | null;
  /** Set when money was taken and given back because the run failed. */
  refunded?: boolean;
}

export interface SettleResult {
  /** `charged` once captured; `not_charged` once released; `pending` while Stripe has not confirmed. */
  status: ChargeStatus;
  refunded: boolean;
}

export interface ChargeRequest {
  executionId: string;
  user: UserRecord;
  spell: SpellRecord;
  price: Price;
  /** The caller's per-call cap (`maxCost` on execute, minor units): a higher price is refused before the run. */
  maxCost?: number | undefined;
  /** The caller's token cap (`spell:max_spend`): the adapter counts the price against it before charging. */
  maxSpend?: TokenSpendCap | undefined;
}

/** A successful charge; anything else is thrown as an AppError (402s, 501, 503). */
export interface Charge {
  billingRecordId: string;
  paymentIntentId: string;
  amount: number;
  currency: string;
  /**
   * Set by a ledger adapter (prepaid): `billingRecordId` is a reserve that the execution log's
   * `finish` may debit (capture) or release (cancel) in the outcome's own statement, so the money
   * is final in the same durable write as the answer.
   */
  ledgerReserve?: boolean;
  /**
   * Set by the engine on the charge it hands `settle` when `finish` reported it settled: the adapter
   * answers from it without another statement (and wrappers still see the settle, e.g. to give a
   * token cap's share back).
   */
  settledByFinish?: boolean;
}

export interface Billing {
  /** The price the caller would pay for this spell (estimate and execute use the same function). */
  quote(spell: SpellRecord, user: UserRecord): Price;
  /** Whether a charge can be attempted for this user without asking them for a card first. */
  hasPaymentMethod(user: UserRecord): boolean;
  /**
   * Takes the money before the run. Throws AppError on decline (BILLING_FAILED), missing card
   * (PAYMENT_METHOD_REQUIRED), needed customer action (PAYMENT_REQUIRES_ACTION with paymentIntentId
   * and clientSecret) or no configuration (BILLING_NOT_CONFIGURED).
   */
  charge(request: ChargeRequest): Promise<Charge>;
  /**
   * Optional, for an execution without an idempotency key: the charge and the execution's
   * `running` row (what `ExecutionLog.begin` writes) in one write — a prepaid reserve and the begin
   * in one statement. `null`: this request cannot be charged so (a token with `spell:max_spend`),
   * and the pipeline takes `begin` then `charge`. A refusal is thrown like `charge`'s, and then
   * neither the row nor any money was written.
   */
  chargeAtBegin?(request: ChargeRequest, execution: NewExecution): Promise<Charge | null>;
  /**
   * After the outcome and its settlement order are stored: keep the money on success, give it back
   * (cancel, or refund) on failure. Never throws for a provider that cannot be reached: the order
   * stays pending for the settlement worker and the result says `pending`.
   */
  settle(charge: Charge, outcome: "succeeded" | "failed"): Promise<SettleResult>;
  /** A Checkout (setup mode) URL so the user can save a card. */
  createCheckoutUrl(user: UserRecord, urls: { successUrl: string; cancelUrl: string }): Promise<string>;
  /** A billing-portal URL for the user's customer. */
  createPortalUrl(user: UserRecord, urls: { returnUrl: string }): Promise<string>;
  /**
   * After the customer completed a required action: the intent's state, checked to belong to
   * `user` (FORBIDDEN otherwise, NOT_FOUND when unknown). `charge` is set once it has succeeded.
   */
  resumePayment(
    user: UserRecord,
    paymentIntentId: string,
  ): Promise<{
    executionId: string;
    status: "succeeded" | "requires_action" | "failed";
    charge: Charge | null;
  }>;
  /** Publish-time check: throws PRICE_BELOW_MINIMUM when the provider would decline every charge. */
  assertChargeable(price: Price): void;
  /** Prepaid mode only: balances, the ledger, spend caps and top-ups (see spend-limits/ports.ts). */
  prepaid?: PrepaidAccounts;
  /** Execute rate limits, when configured: counted by the pipeline once the spell is known. */
  rateLimits?: ExecutionRateLimits;
}

export interface RuntimeInvocation {
  executionId: string;
  spell: SpellRecord;
  input: JsonObject;
  /** Who runs it (the user id); runtimes with a shared queue (wasm) serve callers in turn. */
  callerId?: string;
  /** Aborted when the run is canceled: the runtime stops its work (kills a sandbox, aborts an upstream request). */
  signal?: AbortSignal;
}

export interface RuntimeResult {
  output: unknown;
  /** Captured diagnostics (for example a wasm guest's stderr), kept in the execution log. */
  log?: string;
}

/** What a runtime keeps of a published artifact; the engine adds the publisher's metadata. */
export type RuntimeArtifact = Omit<PreparedArtifact, "metadata">;

/** What listings show for an artifact whose publisher declared no description or input schema. */
export interface ArtifactDescription {
  description: string | null;
  inputSchema: Record<string, unknown> | null;
  outputSchema?: Record<string, unknown> | null;
}

/**
 * One runtime kind (`builtin`, `api`, `wasm`), injected into the engine; the engine knows none of
 * them by name. Run failures are thrown as AppError with a RUNTIME_* code (or VALIDATION_ERROR for
 * an input the artifact refuses) and details.
 */
export interface Runtime {
  readonly kind: RuntimeKind;
  /**
   * Publish-time validation of an artifact of this kind and what to store for it; a refusal is
   * AppError("ARTIFACT_INVALID") with `details.reason` where there is one. Never runs per request.
   */
  prepare(artifact: ArtifactInput, config: JsonObject): Promise<RuntimeArtifact> | RuntimeArtifact;
  run(invocation: RuntimeInvocation): Promise<RuntimeResult>;
  /** The runtime's own description of an artifact, for listings (builtins describe themselves). */
  describe?(artifact: ArtifactRecord): ArtifactDescription | null;
  /** For a runtime that signs its requests: the secret the spell's upstream verifies them with, shown once at publish. */
  signingSecret?(spell: SpellRecord): string;
  /** Releases what the runtime holds (worker threads, connection pools). */
  close(): Promise<void>;
}

/** A JSON Schema (2020-12): an object, or `true`/`false`. */
export type JsonSchema = Record<string, unknown> | boolean;

/** Where a value breaks a JSON Schema. */
export interface SchemaIssue {
  /** JSON pointer (RFC 6901) into the validated value; "" is the value itself. */
  pointer: string;
  /** The schema keyword that failed (`required`, `type`, `additionalProperties`, …). */
  keyword: string;
  message: string;
}

/** Why a declared schema is refused at publish. */
export interface SchemaProblem {
  /** JSON pointer (RFC 6901) into the schema; "" is the schema itself. */
  pointer: string;
  message: string;
}

/**
 * Spells' declared input and output JSON Schemas (2020-12): checked at publish, enforced on execute.
 * An artifact version never changes, so its id keys the compiled validator: compiled on first use
 * and cached, never per request.
 */
export interface SchemaValidator {
  /** Publish time: null when `schema` is a usable JSON Schema 2020-12, else why and where. */
  check(schema: unknown): SchemaProblem | null;
  /** The issues of `value` against `schema` (compiled once per artifact and role), null when it conforms. */
  validate(
    artifactId: string,
    role: "input" | "output",
    schema: JsonSchema,
    value: unknown,
  ): SchemaIssue[] | null;
}

export interface Clock {
  now(): Date;
  /** Monotonic milliseconds, for durations. */
  monotonicMs(): number;
}

export type { AppError };

/** Asynchronous executions (issue 13): the job engine that carries queued runs to a worker. */
export interface RunQueue {
  /** Queues the run of an execution stored `queued`; any worker process may take it. */
  enqueue(executionId: string): Promise<void>;
}

/** What a queued run needs to run and settle, as stored with its row. */
export interface QueuedRun {
  execution: NewExecution;
  input: JsonObject;
  /** The authorization taken before the run was queued; null for a free spell. */
  charge: Charge | null;
}

/** One execution as its owner reads it. */
export interface ExecutionRecord {
  id: string;
  userId: string;
  slug: string;
  runtime: RuntimeKind;
  status: ExecutionStatus;
  outcome: StoredOutcome | null;
  price: Price;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The rows of asynchronous executions; every state change is one conditional statement. */
export interface AsyncExecutionStore {
  /** After the charge: the `running` row written by `begin` becomes `queued` with its input and charge. */
  queue(
    executionId: string,
    run: { input: JsonObject; charge: Charge | null; cancelAfter: Date | null; webhook: RunWebhook | null },
  ): Promise<void>;
  /**
   * `queued → running`, only before its deadline: of any number of workers exactly one gets the run;
   * null when it is not queued (taken, finished, canceled) or its deadline passed.
   */
  claim(executionId: string): Promise<QueuedRun | null>;
  /**
   * `queued → canceled` with the outcome and, for a charged run, a pending cancel of the payment in
   * the same statement. `userId` limits it to the owner; `onlyExpired` to runs past their deadline.
   * `canceled: false` when the row was not queued (or not the caller's, or not expired).
   */
  cancelQueued(
    executionId: string,
    options: { userId?: string; onlyExpired?: boolean; outcome: StoredOutcome; finishedAt: Date },
  ): Promise<{ canceled: boolean; charge: Charge | null }>;
  /** `running → canceled` for the owner; the worker then releases the money instead of capturing. */
  cancelRunning(
    executionId: string,
    userId: string,
    outcome: StoredOutcome,
    finishedAt: Date,
  ): Promise<boolean>;
  /**
   * The worker's finish: stores the outcome and its settlement only while the row is `running`. A
   * row canceled meanwhile keeps its outcome and gets a pending cancel instead (false is returned).
   */
  finishRun(
    executionId: string,
    outcome: StoredOutcome,
    finishedAt: Date,
    log: string | null,
    settlement: SettlementOrder | null,
  ): Promise<boolean>;
  /**
   * An asynchronous run left `running` longer than `staleAfterMs` (its worker died mid-run): failed
   * with the outcome and a pending cancel of its charge in one statement, never run again. Returns
   * whether it was, and the charge to release.
   */
  failStale(
    executionId: string,
    staleAfterMs: number,
    outcome: StoredOutcome,
    finishedAt: Date,
  ): Promise<{ failed: boolean; charge: Charge | null }>;
  /** The caller's own execution; null for another user's or an unknown id. */
  getOwned(executionId: string, userId: string): Promise<ExecutionRecord | null>;
  /**
   * Tells `listener` the ids of webhook deliveries a transition wrote (the outbox rows of a run
   * whose webhook asked for that event), right after the statement committed; returns the
   * unsubscribe. Optional: only the server's webhook worker listens, the engine never does.
   */
  onWebhookDeliveries?(listener: (deliveryIds: string[]) => void): () => void;
  /** The caller's executions, newest first, strictly older than `before`. */
  listOwned(
    userId: string,
    options: { before?: { createdAt: Date; id: string }; limit: number },
  ): Promise<ExecutionRecord[]>;
}
