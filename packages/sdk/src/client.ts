import type {
  ZAdminSpendLimitsInput,
  ZAuthorPublishInput,
  ZAuthorRunsInput,
  ZAuthorRunsOutput,
  ZAutoReloadInput,
  ZBalanceOutput,
  ZBanOutput,
  ZCancelExecutionOutput,
  ZCheckoutUrlInput,
  ZConfirmIntentInput,
  ZDisableSpellOutput,
  ZEstimateOutput,
  ZExecuteAccepted,
  ZExecuteInput,
  ZExecuteOutput,
  ZGetExecutionOutput,
  ZHistoryOutput,
  ZListExecutionsInput,
  ZListExecutionsOutput,
  ZListSpellsOutput,
  ZMeOutput,
  ZPortalUrlInput,
  ZPublishInput,
  ZPublishOutput,
  ZRefundTopUpInput,
  ZRefundTopUpOutput,
  ZRollbackInput,
  ZRollbackOutput,
  ZRunLogOutput,
  ZShareIdentityOutput,
  ZSpellStatsInput,
  ZSpellStatsOutput,
  ZSpellVersionsOutput,
  ZSpendLimitsInput,
  ZTeamMembersInput,
  ZTeamMembersOutput,
  ZTopUpInput,
  ZTopUpOutput,
  ZUpdateSpellInput,
  ZUpdateSpellOutput,
  ZUrlOutput,
} from "@spell/contracts";
import { createTRPCUntypedClient, httpLink } from "@trpc/client";
import { SpellError, toSpellError } from "./errors.ts";

// zod 4's own definitions of z.input / z.output, so the SDK needs zod's types but not zod itself.
type In<T> = T extends { _zod: { input: infer I } } ? I : never;
type Out<T> = T extends { _zod: { output: infer O } } ? O : never;

export type ExecuteInput = In<typeof ZExecuteInput>;
export type ExecuteResult = Out<typeof ZExecuteOutput>;
/** An asynchronous execution not finished yet (`Prefer: respond-async` on REST answers it with 202). */
export type ExecuteAccepted = Out<typeof ZExecuteAccepted>;
export type ExecutionResult = Out<typeof ZGetExecutionOutput>;
export type Execution = ExecutionResult["execution"];
export type ListExecutionsInput = In<typeof ZListExecutionsInput>;
export type ListExecutionsResult = Out<typeof ZListExecutionsOutput>;
export type CancelExecutionResult = Out<typeof ZCancelExecutionOutput>;
export type EstimateResult = Out<typeof ZEstimateOutput>;
export type ListSpellsResult = Out<typeof ZListSpellsOutput>;
export type SpellSummary = ListSpellsResult["spells"][number];
export type MeResult = Out<typeof ZMeOutput>;
export type BanResult = Out<typeof ZBanOutput>;
export type PublishSpellInput = In<typeof ZPublishInput>;
export type PublishResult = Out<typeof ZPublishOutput>;
export type TeamMembersInput = In<typeof ZTeamMembersInput>;
export type TeamMembersResult = Out<typeof ZTeamMembersOutput>;
export type CheckoutUrlInput = In<typeof ZCheckoutUrlInput>;
export type PortalUrlInput = In<typeof ZPortalUrlInput>;
export type ConfirmIntentInput = In<typeof ZConfirmIntentInput>;
export type UrlResult = Out<typeof ZUrlOutput>;
export type BalanceResult = Out<typeof ZBalanceOutput>;
export type HistoryResult = Out<typeof ZHistoryOutput>;
export type TopUpInput = In<typeof ZTopUpInput>;
export type TopUpResult = Out<typeof ZTopUpOutput>;
export type RefundTopUpInput = In<typeof ZRefundTopUpInput>;
export type RefundTopUpResult = Out<typeof ZRefundTopUpOutput>;
export type SpendLimitsInput = In<typeof ZSpendLimitsInput>;
export type AdminSpendLimitsInput = In<typeof ZAdminSpendLimitsInput>;
export type AutoReloadInput = In<typeof ZAutoReloadInput>;
export type AuthorPublishInput = In<typeof ZAuthorPublishInput>;
export type UpdateSpellInput = In<typeof ZUpdateSpellInput>;
export type UpdateSpellResult = Out<typeof ZUpdateSpellOutput>;
export type SpellVersionsResult = Out<typeof ZSpellVersionsOutput>;
export type RollbackInput = In<typeof ZRollbackInput>;
export type RollbackResult = Out<typeof ZRollbackOutput>;
export type DisableSpellResult = Out<typeof ZDisableSpellOutput>;
export type AuthorRunsInput = In<typeof ZAuthorRunsInput>;
export type AuthorRunsResult = Out<typeof ZAuthorRunsOutput>;
export type RunLogResult = Out<typeof ZRunLogOutput>;
export type SpellStatsInput = In<typeof ZSpellStatsInput>;
export type SpellStatsResult = Out<typeof ZSpellStatsOutput>;
export type ShareIdentityResult = Out<typeof ZShareIdentityOutput>;

/**
 * Every procedure the SDK calls, by its tRPC path, with the contracts' input and output types. The
 * SDK's published types stop here (no router types, no server packages); `router-agreement.test.ts`
 * holds this table to the router's own types at typecheck time.
 */
export interface SpellProcedures {
  "spell.execute": { type: "mutation"; input: ExecuteInput; output: ExecuteResult | ExecuteAccepted };
  "spell.estimate": { type: "mutation"; input: { spell: string }; output: EstimateResult };
  "spell.list": { type: "query"; input: Record<string, never>; output: ListSpellsResult };
  me: { type: "query"; input: Record<string, never>; output: MeResult };
  "admin.ban": { type: "mutation"; input: { userId: string; reason: string }; output: BanResult };
  "admin.unban": { type: "mutation"; input: { userId: string }; output: BanResult };
  "admin.publish": { type: "mutation"; input: PublishSpellInput; output: PublishResult };
  "admin.teamMembers": { type: "mutation"; input: TeamMembersInput; output: TeamMembersResult };
  "billing.checkoutUrl": { type: "mutation"; input: CheckoutUrlInput; output: UrlResult };
  "billing.portalUrl": { type: "mutation"; input: PortalUrlInput; output: UrlResult };
  "billing.confirmIntent": { type: "mutation"; input: ConfirmIntentInput; output: ExecuteResult };
  "billing.balance": { type: "query"; input: { currency?: string }; output: BalanceResult };
  "billing.history": { type: "query"; input: { limit?: number }; output: HistoryResult };
  "billing.topUp": { type: "mutation"; input: TopUpInput; output: TopUpResult };
  "billing.refundTopUp": { type: "mutation"; input: RefundTopUpInput; output: RefundTopUpResult };
  "billing.spendLimits": { type: "mutation"; input: SpendLimitsInput; output: BalanceResult };
  "billing.autoReload": { type: "mutation"; input: AutoReloadInput; output: BalanceResult };
  "admin.spendLimits": { type: "mutation"; input: AdminSpendLimitsInput; output: BalanceResult };
  "authors.publish": { type: "mutation"; input: AuthorPublishInput; output: PublishResult };
  "authors.update": { type: "mutation"; input: UpdateSpellInput; output: UpdateSpellResult };
  "authors.versions": { type: "query"; input: { slug: string }; output: SpellVersionsResult };
  "authors.rollback": { type: "mutation"; input: RollbackInput; output: RollbackResult };
  "authors.disable": {
    type: "mutation";
    input: { slug: string; disabled?: boolean };
    output: DisableSpellResult;
  };
  "authors.runs": { type: "query"; input: AuthorRunsInput; output: AuthorRunsResult };
  "authors.runLog": { type: "query"; input: { executionId: string }; output: RunLogResult };
  "authors.stats": { type: "query"; input: SpellStatsInput; output: SpellStatsResult };
  "authors.shareIdentity": { type: "mutation"; input: { share: boolean }; output: ShareIdentityResult };
  "executions.get": { type: "query"; input: { id: string }; output: ExecutionResult };
  "executions.list": { type: "query"; input: ListExecutionsInput; output: ListExecutionsResult };
  "executions.cancel": { type: "mutation"; input: { id: string }; output: CancelExecutionResult };
}

/** The `fetch` the client calls; defaults to the global one. */
export type SpellFetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface SpellClientOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8787`; tRPC is reached at `${baseUrl}/trpc`. */
  baseUrl: string;
  /** A bearer JWT. Without one every call fails with `UNAUTHORIZED`. */
  token?: string;
  fetch?: SpellFetch;
}

/** Options of a synchronous `execute`: the call answers the finished run. */
export interface ExecuteOptions {
  /** A repeated key returns the first result and runs nothing (the `Idempotency-Key` header). */
  idempotencyKey?: string;
  /** Refuse the run if it would cost more than this (minor units). */
  maxCost?: number;
}

/**
 * Options of an asynchronous `execute` (`Prefer` on that call only): `wait` seconds (0–60) answers
 * the result if the run finishes in time, else the accepted execution; `respondAsync` answers the
 * accepted execution at once. Exactly one of the two.
 */
export type AsyncExecuteOptions = ExecuteOptions & {
  /** `Cancel-After`: a run not started within this many seconds is aborted and never charged. */
  cancelAfter?: number;
} & ({ wait: number; respondAsync?: never } | { respondAsync: true; wait?: never });

/** What `executions.wait` accepts besides the id. */
export interface WaitOptions {
  /** Give up after this long with the last state read (default 60 s). */
  timeoutMs?: number;
  /** Called with each state read whose status differs from the previous one (the first included). */
  onUpdate?: (execution: Execution) => void;
  /** Stops the polling: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Whether `execute` answered an accepted (not yet finished) execution rather than its result. */
export function isExecuteAccepted(result: ExecuteResult | ExecuteAccepted): result is ExecuteAccepted {
  return "location" in result && (result.status === "queued" || result.status === "running");
}

/** The statuses after which an execution never changes again. */
export const TERMINAL_EXECUTION_STATUSES: readonly Execution["status"][] = [
  "succeeded",
  "failed",
  "canceled",
];

export interface SpellClient {
  /** Runs a spell and answers the finished run. A repeated `idempotencyKey` returns the first result. */
  execute(slug: string, input?: Record<string, unknown>, options?: ExecuteOptions): Promise<ExecuteResult>;
  /**
   * Runs a spell asynchronously: the refusals (unknown spell, no card, …) are thrown as on a
   * synchronous call; then the result if it finished within `wait`, else the accepted execution —
   * tell them apart with `isExecuteAccepted` and follow it with `executions.wait`.
   */
  execute(
    slug: string,
    input: Record<string, unknown> | undefined,
    options: AsyncExecuteOptions,
  ): Promise<ExecuteResult | ExecuteAccepted>;
  /** What running the spell would cost the caller, without running it. */
  estimate(slug: string): Promise<EstimateResult>;
  /** The spells the caller may run. */
  listSpells(): Promise<ListSpellsResult>;
  /** The caller: status, payment method, recent usage. */
  me(): Promise<MeResult>;
  admin: {
    ban(userId: string, reason: string): Promise<BanResult>;
    unban(userId: string): Promise<BanResult>;
    publish(input: PublishSpellInput): Promise<PublishResult>;
    teamMembers(input: TeamMembersInput): Promise<TeamMembersResult>;
    /** Prepaid mode: a user's daily / monthly ceilings (micros; null removes one). */
    spendLimits(input: AdminSpendLimitsInput): Promise<BalanceResult>;
  };
  /** Spell authors (a token with `spell:publish`): their own spells, versions and runs. */
  authors: {
    /** Creates a spell you own or replaces its artifact; fields not given are kept. */
    publish(input: AuthorPublishInput): Promise<PublishResult>;
    /** Changes only the given fields (visibility, team, price, metadata, schemas). */
    update(input: UpdateSpellInput): Promise<UpdateSpellResult>;
    versions(slug: string): Promise<SpellVersionsResult>;
    rollback(input: RollbackInput): Promise<RollbackResult>;
    /** Unpublishes (`disabled: true`, the default) or enables the spell again. */
    disable(slug: string, disabled?: boolean): Promise<DisableSpellResult>;
    runs(input?: AuthorRunsInput): Promise<AuthorRunsResult>;
    runLog(executionId: string): Promise<RunLogResult>;
    stats(input?: SpellStatsInput): Promise<SpellStatsResult>;
    /** Lets the authors of the spells you run see your user id (default: hidden). */
    shareIdentity(share: boolean): Promise<ShareIdentityResult>;
  };
  /** Your executions (asynchronous ones included): read, list, cancel, wait for the end. */
  executions: {
    get(executionId: string): Promise<ExecutionResult>;
    list(input?: ListExecutionsInput): Promise<ListExecutionsResult>;
    /** A queued run never runs and is never charged; a running one's result is discarded, its money released. */
    cancel(executionId: string): Promise<CancelExecutionResult>;
    /**
     * Polls until the execution is `succeeded`, `failed` or `canceled` (default at most 60 s, then
     * the last state read); the interval starts at 100 ms and doubles up to 2 s.
     */
    wait(executionId: string, options?: WaitOptions): Promise<ExecutionResult>;
  };
  billing: {
    checkoutUrl(input: CheckoutUrlInput): Promise<UrlResult>;
    portalUrl(input: PortalUrlInput): Promise<UrlResult>;
    confirmIntent(paymentIntentId: string): Promise<ExecuteResult>;
    /** Prepaid mode: balance (micros), caps and recent ledger entries. */
    balance(currency?: string): Promise<BalanceResult>;
    /** Prepaid mode: ledger entries, newest first. */
    history(limit?: number): Promise<HistoryResult>;
    /** Prepaid mode: charges the saved card `amount` minor units; the key makes retries safe. */
    topUp(input: TopUpInput): Promise<TopUpResult>;
    /**
     * Prepaid mode: gives a top-up's unspent part (all of it without `amount`) back on the card —
     * your own top-ups, or anyone's as an admin. Retry with the same key: it never refunds twice.
     */
    refundTopUp(input: RefundTopUpInput): Promise<RefundTopUpResult>;
    /** Prepaid mode: your own daily / monthly caps (the admin's ceiling still applies). */
    spendLimits(input: SpendLimitsInput): Promise<BalanceResult>;
    autoReload(input: AutoReloadInput): Promise<BalanceResult>;
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * tRPC reports an unparsable body without the response, so a proxy's HTML error page would lose its
 * status; failing here keeps it (toSpellError unwraps the SpellError from the TRPCClientError).
 */
function refuseNonJson(fetch: SpellFetch): SpellFetch {
  return async (url, init) => {
    const response = await fetch(url, init);
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("json")) {
      const reason = `HTTP ${response.status} with content-type ${JSON.stringify(type)}`;
      throw new SpellError(
        response.status >= 500 ? "SERVICE_UNAVAILABLE" : "INTERNAL_ERROR",
        `Unexpected answer from the Spell API (${reason})`,
        { status: response.status, details: { network: true, reason } },
      );
    }
    return response;
  };
}

/** The `Prefer` / `Cancel-After` headers of an asynchronous call; none for a synchronous one. */
function asyncHeaders(options: ExecuteOptions | AsyncExecuteOptions): Record<string, string> | undefined {
  const { wait, respondAsync, cancelAfter } = options as Partial<AsyncExecuteOptions> & {
    wait?: number;
    respondAsync?: boolean;
  };
  const headers: Record<string, string> = {};
  if (respondAsync === true) headers.prefer = "respond-async";
  else if (wait !== undefined) headers.prefer = `wait=${wait}`;
  if (cancelAfter !== undefined) headers["cancel-after"] = String(cancelAfter);
  return Object.keys(headers).length === 0 ? undefined : headers;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A typed Spell client over tRPC. Every friendly method rejects with a `SpellError`. */
export function createSpellClient(options: SpellClientOptions): SpellClient {
  const baseUrl = trimSlash(options.baseUrl);
  const url = `${baseUrl}/trpc`;
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const fetch = refuseNonJson(options.fetch ?? globalThis.fetch);
  // httpLink rather than the batch link: one call, one HTTP status, which keeps errors 1:1. A
  // call's own headers (Prefer, Cancel-After) travel in its operation context.
  const headers = ({ op }: { op: { context: Record<string, unknown> } }) => ({
    ...auth,
    ...(op.context.headers as Record<string, string> | undefined),
  });
  const links = [httpLink({ url, headers, fetch })];
  const trpc = createTRPCUntypedClient({ links });

  async function call<P extends keyof SpellProcedures>(
    path: P,
    input: SpellProcedures[P]["input"],
    callHeaders?: Record<string, string>,
  ): Promise<SpellProcedures[P]["output"]> {
    const { type } = PROCEDURE_TYPES[path];
    const opts = callHeaders ? { context: { headers: callHeaders } } : undefined;
    try {
      const result = type === "query" ? trpc.query(path, input, opts) : trpc.mutation(path, input, opts);
      return (await result) as SpellProcedures[P]["output"];
    } catch (error) {
      throw toSpellError(error, baseUrl);
    }
  }

  const getExecution = (id: string) => call("executions.get", { id });

  // Without a `Prefer` header the server always answers the finished run.
  async function execute(
    spell: string,
    input: Record<string, unknown> = {},
    options: ExecuteOptions | AsyncExecuteOptions = {},
  ): Promise<ExecuteResult | ExecuteAccepted> {
    const { idempotencyKey, maxCost } = options;
    return call(
      "spell.execute",
      {
        spell,
        input,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...(maxCost === undefined ? {} : { maxCost }),
      },
      asyncHeaders(options),
    );
  }

  return {
    execute: execute as SpellClient["execute"],
    estimate: (spell) => call("spell.estimate", { spell }),
    listSpells: () => call("spell.list", {}),
    me: () => call("me", {}),
    admin: {
      ban: (userId, reason) => call("admin.ban", { userId, reason }),
      unban: (userId) => call("admin.unban", { userId }),
      publish: (input) => call("admin.publish", input),
      teamMembers: (input) => call("admin.teamMembers", input),
      spendLimits: (input) => call("admin.spendLimits", input),
    },
    authors: {
      publish: (input) => call("authors.publish", input),
      update: (input) => call("authors.update", input),
      versions: (slug) => call("authors.versions", { slug }),
      rollback: (input) => call("authors.rollback", input),
      disable: (slug, disabled = true) => call("authors.disable", { slug, disabled }),
      runs: (input = {}) => call("authors.runs", input),
      runLog: (executionId) => call("authors.runLog", { executionId }),
      stats: (input = {}) => call("authors.stats", input),
      shareIdentity: (share) => call("authors.shareIdentity", { share }),
    },
    executions: {
      get: getExecution,
      list: (input = {}) => call("executions.list", input),
      cancel: (id) => call("executions.cancel", { id }),
      async wait(id, { timeoutMs = 60_000, onUpdate, signal } = {}) {
        const deadline = Date.now() + timeoutMs;
        let delay = 100;
        let last: string | undefined;
        for (;;) {
          signal?.throwIfAborted();
          const result = await getExecution(id);
          const { status } = result.execution;
          if (status !== last) onUpdate?.(result.execution);
          last = status;
          if (TERMINAL_EXECUTION_STATUSES.includes(status)) return result;
          if (Date.now() + delay > deadline) return result;
          await sleep(delay, signal);
          delay = Math.min(delay * 2, 2_000);
        }
      },
    },
    billing: {
      checkoutUrl: (input) => call("billing.checkoutUrl", input),
      portalUrl: (input) => call("billing.portalUrl", input),
      confirmIntent: (paymentIntentId) => call("billing.confirmIntent", { paymentIntentId }),
      balance: (currency) => call("billing.balance", currency === undefined ? {} : { currency }),
      history: (limit) => call("billing.history", limit === undefined ? {} : { limit }),
      topUp: (input) => call("billing.topUp", input),
      refundTopUp: (input) => call("billing.refundTopUp", input),
      spendLimits: (input) => call("billing.spendLimits", input),
      autoReload: (input) => call("billing.autoReload", input),
    },
  };
}

/** Whether each procedure is a query (GET) or a mutation (POST); exported for the agreement test only. */
export const PROCEDURE_TYPES: { [P in keyof SpellProcedures]: Pick<SpellProcedures[P], "type"> } = {
  "spell.execute": { type: "mutation" },
  "spell.estimate": { type: "mutation" },
  "spell.list": { type: "query" },
  me: { type: "query" },
  "admin.ban": { type: "mutation" },
  "admin.unban": { type: "mutation" },
  "admin.publish": { type: "mutation" },
  "admin.teamMembers": { type: "mutation" },
  "billing.checkoutUrl": { type: "mutation" },
  "billing.portalUrl": { type: "mutation" },
  "billing.confirmIntent": { type: "mutation" },
  "billing.balance": { type: "query" },
  "billing.history": { type: "query" },
  "billing.topUp": { type: "mutation" },
  "billing.refundTopUp": { type: "mutation" },
  "billing.spendLimits": { type: "mutation" },
  "billing.autoReload": { type: "mutation" },
  "admin.spendLimits": { type: "mutation" },
  "authors.publish": { type: "mutation" },
  "authors.update": { type: "mutation" },
  "authors.versions": { type: "query" },
  "authors.rollback": { type: "mutation" },
  "authors.disable": { type: "mutation" },
  "authors.runs": { type: "query" },
  "authors.runLog": { type: "query" },
  "authors.stats": { type: "query" },
  "authors.shareIdentity": { type: "mutation" },
  "executions.get": { type: "query" },
  "executions.list": { type: "query" },
  "executions.cancel": { type: "mutation" },
};
