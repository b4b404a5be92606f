import type {
  EstimateOutput,
  ExecuteOutput,
  ListSpellsOutput,
  MeOutput,
  PublishOutput,
  VerifiedCaller,
  WebhookDeliveryView,
  ZBanInput,
  ZCheckoutUrlInput,
  ZConfirmIntentInput,
  ZExecuteInput,
  ZPortalUrlInput,
  ZPublishInput,
  ZTeamMembersInput,
  ZUnbanInput,
} from "@spell/contracts";
import type { z } from "zod";
import type { ExecutionOperations } from "./async/operations.ts";
import type { AuthorOperations } from "./authors/operations.ts";
import type {
  AdminStore,
  AsyncExecutionStore,
  AuthorStore,
  Billing,
  Clock,
  ExecutionLog,
  RunQueue,
  Runtime,
  SchemaValidator,
  SpellStore,
  UserRecord,
  UserStore,
} from "./ports.ts";
import type { PrepaidOperations } from "./spend-limits/operations.ts";
import type { RateLimitState } from "./spend-limits/ports.ts";

export type { VerifiedCaller };

/** Verifies the raw Authorization header; throws AppError UNAUTHORIZED. */
export type Authenticate = (authorization: string | undefined) => Promise<VerifiedCaller>;

export interface Session {
  caller: VerifiedCaller;
  user: UserRecord;
}

/**
 * Who may call an operation: `any` verified caller (banned ones too: it is how they read their
 * status), a `user` who is not banned, or an `admin` (not banned, `spell:admin` from an
 * admin-capable issuer).
 */
export type Access = "any" | "user" | "admin";

export interface EngineDeps {
  authenticate: Authenticate;
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
  /** Authors' management and views (issue 12); without it those operations answer INTERNAL_ERROR. */
  authors?: AuthorStore;
  billing: Billing;
  /** Asynchronous executions' rows (issue 13); without it `Prefer` answers SERVICE_UNAVAILABLE. */
  asyncExecutions?: AsyncExecutionStore;
  /** The job engine queued runs go to; unset (the embedded database): no asynchronous executions. */
  runQueue?: RunQueue;
  /** Every runtime this server runs, one per kind; a kind left out answers "not enabled". */
  runtimes: Runtime[];
  /** Enforces spells' declared input/output JSON Schemas (`@spell/schemas`); unset: documentation only. */
  schemas?: SchemaValidator;
  clock?: Clock;
  /** How long a duplicate request waits for the first one with the same idempotency key. */
  duplicateWaitMs?: number;
  /**
   * A `running` execution older than this was abandoned by a crashed process; a retry with its key
   * takes it over. Must exceed the longest charge + run (default 10 minutes).
   */
  staleRunningMs?: number;
}

/**
 * What the pipeline notes for the transport serving one execute (today: the rate limits counted,
 * for `RateLimit` headers). Filled in as the pipeline goes; the transport reads it when answering.
 */
export interface ExecutionNotes {
  rateLimit?: RateLimitState;
}

export type ExecuteRequest = z.output<typeof ZExecuteInput> & { notes?: ExecutionNotes | undefined };

/** The server's side of run webhooks, as the transports see it. */
export interface RunWebhooks {
  /**
   * The request-time check of a webhook URL, without DNS: http(s), https in production, no
   * credentials, not `localhost` nor a forbidden IP literal (the api runtime's SSRF policy).
   * Throws VALIDATION_ERROR; the names are checked again at every delivery after resolving.
   */
  check(url: string): void;
  /** An execution's deliveries with their attempts (the caller checked it owns the execution). */
  deliveries(executionId: string): Promise<WebhookDeliveryView[]>;
}

/**
 * Every operation, whatever the transport (REST, tRPC, a future MCP endpoint): each one refuses a
 * caller its access does not admit, so no transport can skip the check.
 */
export interface Engine {
  /**
   * Token → session (the user row is created on first sight), refused unless `access` admits the
   * caller (default `any`). Transports pass the access of the operation they are about to call, so
   * a refusal comes before the request's input is read.
   */
  authenticate(authorization: string | undefined, access?: Access): Promise<Session>;
  /** The whole pipeline: token → ban → spell → visibility → price → charge → run → JSON. */
  executeSpell(authorization: string | undefined, request: ExecuteRequest): Promise<ExecuteOutput>;
  estimate(session: Session, request: { spell: string }): Promise<EstimateOutput>;
  listSpells(session: Session): Promise<ListSpellsOutput>;
  /** Open to banned callers too. */
  me(session: Session): Promise<MeOutput>;
  publish(session: Session, input: z.output<typeof ZPublishInput>): Promise<PublishOutput>;
  ban(
    session: Session,
    input: z.output<typeof ZBanInput>,
  ): Promise<{ ok: true; userId: string; status: "banned" }>;
  unban(
    session: Session,
    input: z.output<typeof ZUnbanInput>,
  ): Promise<{ ok: true; userId: string; status: "active" }>;
  setTeamMembership(
    session: Session,
    input: z.output<typeof ZTeamMembersInput>,
  ): Promise<{ ok: true; teamId: string; userId: string; member: boolean }>;
  checkoutUrl(
    session: Session,
    input: z.output<typeof ZCheckoutUrlInput>,
  ): Promise<{ ok: true; url: string }>;
  portalUrl(session: Session, input: z.output<typeof ZPortalUrlInput>): Promise<{ ok: true; url: string }>;
  /**
   * Prepaid mode: balance, history, top-up, spend caps (each BILLING_NOT_CONFIGURED in other modes).
   * Optional so engines built for tests without it stay valid; `createEngine` always sets it.
   */
  prepaid?: PrepaidOperations;
  /**
   * Authors (issue 12): publish with `spell:publish`, explicit updates, versions, rollback,
   * unpublish, runs, logs and stats of one's own spells. Optional like `prepaid`; `createEngine`
   * always sets it.
   */
  authors?: AuthorOperations;
  /**
   * Asynchronous executions (issue 13): execute with `Prefer`, the run worker's entry point, the
   * owner's reads and cancel. Optional like `prepaid`; `createEngine` always sets it.
   */
  executions?: ExecutionOperations;
  /**
   * Signed webhooks of asynchronous runs (issue 13): set by the server when it runs the webhook
   * worker (a job engine and a signing secret); unset, a call with a webhook is refused (503).
   */
  webhooks?: RunWebhooks;
  /** Completes an execution whose payment needed customer action, exactly once. */
  confirmIntent(session: Session, input: z.output<typeof ZConfirmIntentInput>): Promise<ExecuteOutput>;
  /** Closes every runtime. */
  close(): Promise<void>;
}
