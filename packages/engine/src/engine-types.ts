import type {
  EstimateOutput,
  ExecuteOutput,
  ListSpellsOutput,
  MeOutput,
  PublishOutput,
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
import type {
  AdminStore,
  Billing,
  Clock,
  ExecutionLog,
  PreparedArtifact,
  Runtime,
  SpellStore,
  UserRecord,
  UserStore,
} from "./ports.ts";

/** A caller whose token has been verified (by @spell/auth in the app). */
export interface VerifiedCaller {
  userId: string;
  isAdmin: boolean;
}

/** Verifies the raw Authorization header; throws AppError UNAUTHORIZED. */
export type Authenticate = (authorization: string | undefined) => Promise<VerifiedCaller>;

export interface Session {
  caller: VerifiedCaller;
  user: UserRecord;
}

/** Publish-time validation of an artifact for one runtime kind. */
export type ArtifactPreparer = (
  artifact: z.output<typeof ZPublishInput>["artifact"],
  config: Record<string, unknown>,
) => Promise<Omit<PreparedArtifact, "metadata">> | Omit<PreparedArtifact, "metadata">;

export interface EngineDeps {
  authenticate: Authenticate;
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
  billing: Billing;
  runtimes: Runtime[];
  /** Per runtime kind; builtin is provided by the engine itself. */
  preparers?: Partial<Record<"api" | "wasm", ArtifactPreparer>>;
  /** Derives an api spell's signing secret, returned once at publish. */
  signingSecretFor?: (spellId: string) => string;
  clock?: Clock;
  /** How long a duplicate request waits for the first one with the same idempotency key. */
  duplicateWaitMs?: number;
  /**
   * A `running` execution older than this was abandoned by a crashed process; a retry with its key
   * takes it over. Must exceed the longest charge + run (default 10 minutes).
   */
  staleRunningMs?: number;
}

export type ExecuteRequest = z.output<typeof ZExecuteInput>;

export interface Engine {
  /** Token → user row (created on first sight). Ban is checked by each operation, first. */
  authenticate(authorization: string | undefined): Promise<Session>;
  /** The whole pipeline: token → ban → spell → visibility → price → charge → run → JSON. */
  executeSpell(authorization: string | undefined, request: ExecuteRequest): Promise<ExecuteOutput>;
  /** The pipeline from the ban check on, for an already authenticated session. */
  execute(session: Session, request: ExecuteRequest): Promise<ExecuteOutput>;
  estimate(session: Session, request: { spell: string }): Promise<EstimateOutput>;
  listSpells(session: Session): Promise<ListSpellsOutput>;
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
  /** Completes an execution whose payment needed customer action, exactly once. */
  confirmIntent(session: Session, input: z.output<typeof ZConfirmIntentInput>): Promise<ExecuteOutput>;
  close(): Promise<void>;
}
