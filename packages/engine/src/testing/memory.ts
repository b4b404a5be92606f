import { createHash, randomUUID } from "node:crypto";
import { AppError, type ArtifactInput, type JsonObject, type MeOutput, type Price } from "@spell/contracts";
import type { Authenticate, EngineDeps } from "../engine-types.ts";
import type {
  AdminStore,
  ArtifactVersionRecord,
  AuthorStore,
  Billing,
  Charge,
  ExecutionLog,
  NewExecution,
  PublishRequest,
  RunDetailRecord,
  Runtime,
  RuntimeArtifact,
  SettlementOrder,
  SpellRecord,
  SpellStore,
  StoredExecution,
  UserRecord,
  UserStore,
} from "../ports.ts";

/** A public, free builtin `echo` spell record; override any field. */
export function spellRecord(overrides: Partial<SpellRecord> & { slug: string }): SpellRecord {
  return {
    id: randomUUID(),
    runtime: "builtin",
    config: {},
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "owner",
    artifact: { id: randomUUID(), builtin: "echo", apiEndpoint: null, wasmSha256: null, metadata: {} },
    ...overrides,
  };
}

/**
 * In-memory adapters of every port, for the engine's own tests and for packages that need a working
 * engine without Postgres. `calls` records the order in which ports were used.
 */
/** The row a begin stores for `execution`: running, no outcome yet. */
export function runningExecution(execution: NewExecution): StoredExecution {
  return {
    id: execution.id,
    userId: execution.userId,
    spellId: execution.spellId,
    slug: execution.slug,
    requestHash: execution.requestHash,
    status: "running",
    outcome: null,
  };
}

export function createMemoryPorts() {
  const calls: string[] = [];
  const users = new Map<string, UserRecord>();
  const spells = new Map<string, SpellRecord>();
  const wasm = new Map<string, Uint8Array>();
  const teams = new Set<string>();
  const executions = new Map<string, StoredExecution & { input?: JsonObject; log?: string | null }>();
  const keys = new Map<string, string>();
  /** When each execution's current attempt started (begin or a takeover). */
  const attempts = new Map<string, number>();

  function userOnFirstSight(userId: string): UserRecord {
    let user = users.get(userId);
    if (!user) {
      user = {
        id: userId,
        status: "active",
        stripeCustomerId: null,
        hasPaymentMethod: false,
        createdAt: new Date(),
      };
      users.set(userId, user);
    }
    return user;
  }

  const userStore: UserStore = {
    async ensureUser(userId) {
      calls.push("users.ensureUser");
      return { ...userOnFirstSight(userId) };
    },
    async ensureUserWithSpell(userId, slug) {
      calls.push("users.ensureUserWithSpell");
      const user = userOnFirstSight(userId);
      // Like the SQL join: a banned caller's spell is never read.
      const spell = user.status === "active" ? spells.get(slug) : undefined;
      if (spell) calls.push("spells.read");
      return {
        user: { ...user },
        lookup: spell
          ? { spell, callerIsTeamMember: spell.teamId !== null && teams.has(`${spell.teamId}\n${userId}`) }
          : null,
      };
    },
    async describe(userOrId, recentLimit) {
      const userId = typeof userOrId === "string" ? userOrId : userOrId.id;
      const user = users.get(userId);
      if (!user) throw new AppError("NOT_FOUND", "no user");
      const mine = [...executions.values()].filter((execution) => execution.userId === userId);
      const usage: MeOutput["usage"] = {
        totalExecutions: mine.length,
        totalCharged: [],
        recent: mine.slice(-recentLimit).map((execution) => ({
          executionId: execution.id,
          slug: execution.slug,
          runtime: "builtin",
          status: execution.status,
          errorCode: execution.outcome?.kind === "failed" ? execution.outcome.error.code : null,
          amount: 0,
          currency: "usd",
          durationMs: execution.outcome?.kind === "succeeded" ? execution.outcome.durationMs : null,
          createdAt: new Date().toISOString(),
        })),
      };
      return { user: { ...user }, usage };
    },
  };

  const adminStore: AdminStore = {
    async banUser(userId) {
      calls.push("admin.banUser");
      const user = await userStore.ensureUser(userId);
      users.set(userId, { ...user, status: "banned" });
    },
    async unbanUser(userId) {
      const user = users.get(userId);
      if (user) users.set(userId, { ...user, status: "active" });
    },
    async setTeamMembership(teamId, userId, member) {
      if (member) teams.add(`${teamId}\n${userId}`);
      else teams.delete(`${teamId}\n${userId}`);
    },
  };

  const spellStore: SpellStore = {
    async findBySlug(slug, callerId) {
      calls.push("spells.findBySlug");
      const spell = spells.get(slug);
      if (!spell) return null;
      return {
        spell,
        callerIsTeamMember: spell.teamId !== null && teams.has(`${spell.teamId}\n${callerId}`),
      };
    },
    async listRunnable(callerId) {
      return [...spells.values()].filter(
        (spell) =>
          spell.disabled !== true &&
          (spell.visibility === "public" ||
            (spell.visibility === "private" && spell.createdBy === callerId) ||
            (spell.visibility === "team" && teams.has(`${spell.teamId}\n${callerId}`))),
      );
    },
    async publish(request: PublishRequest) {
      const existing = spells.get(request.slug);
      // The SQL adapter's guards: create only a free slug, replace only the spell that was checked.
      if (request.expectSpellId !== undefined && (existing?.id ?? null) !== request.expectSpellId) {
        throw new AppError("FORBIDDEN", `${request.slug} changed hands while it was published`, {
          spell: request.slug,
        });
      }
      const artifactId = randomUUID();
      if (request.artifact.wasmBinary) wasm.set(artifactId, request.artifact.wasmBinary);
      const spell: SpellRecord = {
        id: existing?.id ?? randomUUID(),
        slug: request.slug,
        runtime: request.runtime,
        config: request.config,
        price: request.price,
        visibility: request.visibility,
        teamId: request.teamId,
        createdBy: request.createdBy,
        artifact: {
          id: artifactId,
          builtin: request.artifact.builtin,
          apiEndpoint: request.artifact.apiEndpoint,
          wasmSha256: request.artifact.wasmSha256,
          metadata: request.artifact.metadata,
        },
        ...(existing?.disabled ? { disabled: true } : {}),
      };
      if (existing) spell.createdBy = existing.createdBy;
      spells.set(request.slug, spell);
      remember(spell, request.publishedBy ?? request.createdBy);
      return spell;
    },
    async loadWasmBinary(artifactId) {
      const binary = wasm.get(artifactId);
      if (!binary) throw new AppError("NOT_FOUND", "no artifact");
      return binary;
    },
  };

  /** Every artifact version per spell id, oldest first (the `artifacts` table). */
  const versions = new Map<
    string,
    Array<{ record: SpellRecord["artifact"]; version: ArtifactVersionRecord }>
  >();
  function remember(spell: SpellRecord, createdBy: string | null) {
    const list = versions.get(spell.id) ?? [];
    const a = spell.artifact;
    const sha256 =
      a.wasmSha256 ??
      createHash("sha256")
        .update(a.builtin ?? a.apiEndpoint ?? "")
        .digest("hex");
    list.push({
      record: a,
      version: { artifactId: a.id, runtime: spell.runtime, sha256, createdBy, createdAt: new Date() },
    });
    versions.set(spell.id, list);
  }
  function spellById(spellId: string): SpellRecord {
    const spell = [...spells.values()].find((candidate) => candidate.id === spellId);
    if (!spell) throw new AppError("SPELL_NOT_FOUND", "no spell");
    return spell;
  }
  function replace(spell: SpellRecord): SpellRecord {
    spells.set(spell.slug, spell);
    return spell;
  }
  /** Runs the author views read; tests push rows (the memory execution log keeps no prices or times). */
  const authorRuns: RunDetailRecord[] = [];
  const sharing = new Set<string>();
  const inScope = (run: RunDetailRecord, scope: { all: boolean; userId: string; teams: boolean }) =>
    scope.all ||
    run.spellCreatedBy === scope.userId ||
    (scope.teams && run.spellTeamId !== null && teams.has(`${run.spellTeamId}\n${scope.userId}`));

  const authorStore: AuthorStore = {
    async isTeamMember(teamId, userId) {
      return teams.has(`${teamId}\n${userId}`);
    },
    async update(spellId, update) {
      calls.push("authors.update");
      let spell = { ...spellById(spellId) };
      if (update.visibility !== undefined) spell.visibility = update.visibility;
      if (update.teamId !== undefined) spell.teamId = update.teamId;
      if (update.price !== undefined) spell.price = update.price;
      if (update.metadata !== undefined) {
        spell = { ...spell, artifact: { ...spell.artifact, id: randomUUID(), metadata: update.metadata } };
        const binary = wasm.get(spellById(spellId).artifact.id);
        if (binary) wasm.set(spell.artifact.id, binary);
        remember(spell, update.updatedBy);
      }
      return replace(spell);
    },
    async listVersions(spellId) {
      return (versions.get(spellId) ?? []).map((entry) => entry.version);
    },
    async rollback(spellId, artifactId) {
      calls.push("authors.rollback");
      const entry = (versions.get(spellId) ?? []).find((candidate) => candidate.record.id === artifactId);
      if (!entry) return null;
      return replace({ ...spellById(spellId), artifact: entry.record });
    },
    async setDisabled(spellId, disabled) {
      calls.push("authors.setDisabled");
      const { disabled: _was, ...spell } = spellById(spellId);
      return replace(disabled ? { ...spell, disabled: true } : spell);
    },
    async listRuns(query) {
      return authorRuns
        .filter(
          (run) =>
            inScope(run, query.scope) &&
            (query.spellId === undefined || run.spellId === query.spellId) &&
            (query.status === undefined || run.status === query.status) &&
            (query.from === undefined || run.createdAt >= query.from) &&
            (query.to === undefined || run.createdAt < query.to) &&
            (query.before === undefined ||
              run.createdAt < query.before.createdAt ||
              (run.createdAt.getTime() === query.before.createdAt.getTime() &&
                run.executionId < query.before.id)),
        )
        .sort(
          (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.executionId < b.executionId ? 1 : -1),
        )
        .slice(0, query.limit)
        .map((run) => ({ ...run, callerShares: sharing.has(run.callerId) }));
    },
    async getRun(executionId, callerId) {
      const run = authorRuns.find((candidate) => candidate.executionId === executionId);
      if (!run) return null;
      return {
        ...run,
        callerShares: sharing.has(run.callerId),
        callerIsTeamMember: run.spellTeamId !== null && teams.has(`${run.spellTeamId}\n${callerId}`),
      };
    },
    async stats(query) {
      const rows = await authorStore.listRuns({ ...query, limit: Number.MAX_SAFE_INTEGER });
      const buckets = new Map<
        string,
        {
          slug: string;
          periodStart: Date;
          runs: number;
          succeeded: number;
          failed: number;
          revenue: Map<string, number>;
        }
      >();
      for (const run of rows) {
        const d = run.createdAt;
        const start = new Date(
          Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), query.period === "day" ? d.getUTCDate() : 1),
        );
        const key = `${run.slug}\n${start.toISOString()}`;
        const bucket = buckets.get(key) ?? {
          slug: run.slug,
          periodStart: start,
          runs: 0,
          succeeded: 0,
          failed: 0,
          revenue: new Map(),
        };
        bucket.runs += 1;
        if (run.status === "succeeded") bucket.succeeded += 1;
        if (run.status === "failed") bucket.failed += 1;
        if (run.charged)
          bucket.revenue.set(
            run.price.currency,
            (bucket.revenue.get(run.price.currency) ?? 0) + run.price.amount,
          );
        buckets.set(key, bucket);
      }
      return [...buckets.values()]
        .sort((a, b) => a.slug.localeCompare(b.slug) || a.periodStart.getTime() - b.periodStart.getTime())
        .map(({ revenue, ...bucket }) => ({
          ...bucket,
          revenue: [...revenue].map(([currency, amount]) => ({ amount, currency })),
        }));
    },
    async setShareIdentity(userId, share) {
      if (share) sharing.add(userId);
      else sharing.delete(userId);
    },
  };

  /** The settlement orders written with outcomes (the durable pending money work). */
  const settlementOrders: Array<SettlementOrder & { executionId: string }> = [];
  /** `finish` throws SERVICE_UNAVAILABLE this many more times (a database outage). */
  let finishFailures = 0;

  const executionLog: ExecutionLog = {
    async begin(execution: NewExecution) {
      calls.push("executions.begin");
      if (execution.idempotencyKey !== null) {
        const existingId = keys.get(`${execution.userId}\n${execution.idempotencyKey}`);
        const existing = existingId ? executions.get(existingId) : undefined;
        if (existing) return { kind: "existing", execution: { ...existing } };
        keys.set(`${execution.userId}\n${execution.idempotencyKey}`, execution.id);
      }
      attempts.set(execution.id, Date.now());
      executions.set(execution.id, runningExecution(execution));
      return { kind: "started" };
    },
    async get(executionId) {
      const execution = executions.get(executionId);
      return execution ? { ...execution } : null;
    },
    async finish(executionId, outcome, _finishedAt, log, settlement) {
      calls.push("executions.finish");
      if (finishFailures > 0) {
        finishFailures -= 1;
        throw new AppError("SERVICE_UNAVAILABLE", "The database is unavailable", {});
      }
      if (settlement) settlementOrders.push({ executionId, ...settlement });
      const execution = executions.get(executionId);
      if (execution) {
        execution.status = outcome.kind;
        execution.outcome = outcome;
        execution.log = log ?? null;
      }
    },
    async markPendingPayment(executionId, pending) {
      calls.push("executions.markPendingPayment");
      const execution = executions.get(executionId);
      if (execution) {
        execution.status = "pending_payment";
        execution.outcome = { kind: "failed", error: pending.error };
        execution.input = pending.input;
      }
    },
    async claimPendingPayment(executionId) {
      const execution = executions.get(executionId);
      if (execution?.status !== "pending_payment" || !execution.input) return null;
      execution.status = "running";
      return { input: execution.input };
    },
    async reopenForRetry(executionId, staleAfterMs) {
      const execution = executions.get(executionId);
      if (!execution) return false;
      const outcome = execution.outcome;
      const retryable =
        execution.status === "failed" &&
        outcome?.kind === "failed" &&
        outcome.error.details.retryable === true;
      const stale =
        execution.status === "running" && Date.now() - (attempts.get(executionId) ?? 0) > staleAfterMs;
      if (!retryable && !stale) return false;
      execution.status = "running";
      execution.outcome = null;
      attempts.set(executionId, Date.now());
      return true;
    },
    async record(execution, outcome, _finishedAt, log) {
      calls.push("executions.record");
      executions.set(execution.id, {
        log: log ?? null,
        id: execution.id,
        userId: execution.userId,
        spellId: execution.spellId,
        slug: execution.slug,
        requestHash: execution.requestHash,
        status: outcome.kind,
        outcome,
      });
    },
  };

  return {
    calls,
    users,
    spells,
    executions,
    userStore,
    adminStore,
    spellStore,
    authorStore,
    authorRuns,
    executionLog,
    settlementOrders,
    /**
     * What the real adapter does in the statement that records Stripe's confirmation: the stored
     * outcome of the order's execution says the truth about the money from then on.
     */
    applySettled(paymentIntentId: string, status: "charged" | "not_charged") {
      const order = settlementOrders.find((o) => o.charge.paymentIntentId === paymentIntentId);
      const outcome = order ? executions.get(order.executionId)?.outcome : undefined;
      if (!order || !outcome) return;
      if (outcome.kind === "succeeded") {
        const { pending: _pending, ...billing } = outcome.billing;
        outcome.billing = { ...billing, charged: status === "charged", status };
      } else if (typeof outcome.error.details.billing === "object" && outcome.error.details.billing) {
        outcome.error.details.billing = {
          ...(outcome.error.details.billing as Record<string, unknown>),
          charged: false,
          status,
          refunded: true,
          settlementPending: false,
        };
      }
    },
    /** The next `count` calls to `executions.finish` fail as if the database were unreachable. */
    failNextFinishes(count: number) {
      finishFailures = count;
    },
    /** Inserts or replaces a spell directly (tests don't need the publish path for setup). */
    putSpell(spell: Partial<SpellRecord> & { slug: string }): SpellRecord {
      const record = spellRecord(spell);
      spells.set(record.slug, record);
      remember(record, record.createdBy);
      return record;
    },
  };
}

export type MemoryPorts = ReturnType<typeof createMemoryPorts>;

/** A fake billing port that records charges and settlements; `failWith` makes the next charge throw. */
export function createRecordingBilling(
  calls: string[] = [],
  onSettled: (paymentIntentId: string, status: "charged" | "not_charged") => void = () => {},
) {
  const charges: Charge[] = [];
  const settlements: { charge: Charge; outcome: "succeeded" | "failed" }[] = [];
  let failure: AppError | null = null;
  let settleUnreachable = false;
  const billing: Billing = {
    quote: (spell) => spell.price,
    hasPaymentMethod: (user) => user.hasPaymentMethod,
    async charge(request) {
      calls.push("billing.charge");
      if (failure) {
        const error = failure;
        failure = null;
        throw error;
      }
      const charge: Charge = {
        billingRecordId: randomUUID(),
        paymentIntentId: `pi_${createHash("sha256").update(request.executionId).digest("hex").slice(0, 24)}`,
        amount: request.price.amount,
        currency: request.price.currency,
      };
      charges.push(charge);
      return charge;
    },
    async settle(charge, outcome) {
      calls.push(`billing.settle:${outcome}`);
      settlements.push({ charge, outcome });
      if (settleUnreachable) return { status: "pending" as const, refunded: false };
      onSettled(charge.paymentIntentId, outcome === "succeeded" ? "charged" : "not_charged");
      return outcome === "succeeded"
        ? { status: "charged" as const, refunded: false }
        : { status: "not_charged" as const, refunded: true };
    },
    async createCheckoutUrl() {
      return "https://checkout.example/session";
    },
    async createPortalUrl() {
      return "https://portal.example/session";
    },
    async resumePayment() {
      throw new AppError("NOT_FOUND", "no such payment");
    },
    assertChargeable(price: Price) {
      if (price.amount > 0 && price.amount < 50) {
        throw new AppError("PRICE_BELOW_MINIMUM", "below minimum", { minimum: 50 });
      }
    },
  };
  return {
    billing,
    charges,
    settlements,
    failNextChargeWith(error: AppError) {
      failure = error;
    },
    /** Settlements answer `pending`, as when Stripe cannot confirm them now. */
    setSettleUnreachable(unreachable: boolean) {
      settleUnreachable = unreachable;
    },
  };
}

/** What a runtime without its own checks stores: the artifact as given (wasm bytes decoded). */
export function acceptArtifact(artifact: ArtifactInput): RuntimeArtifact {
  const wasmBinary =
    "wasmBase64" in artifact ? new Uint8Array(Buffer.from(artifact.wasmBase64, "base64")) : null;
  return {
    builtin: "builtin" in artifact ? artifact.builtin : null,
    apiEndpoint: "apiEndpoint" in artifact ? artifact.apiEndpoint : null,
    wasmBinary,
    wasmSha256: wasmBinary ? createHash("sha256").update(wasmBinary).digest("hex") : null,
  };
}

/** A runtime that records its invocations and answers with `respond`; it accepts any artifact. */
export function createRecordingRuntime(
  kind: Runtime["kind"],
  respond: (input: JsonObject) => unknown = (input) => input,
  calls: string[] = [],
) {
  const invocations: JsonObject[] = [];
  const runtime: Runtime = {
    kind,
    prepare: acceptArtifact,
    async run(invocation) {
      calls.push(`runtime.${kind}`);
      invocations.push(invocation.input);
      return { output: await respond(invocation.input) };
    },
    close: async () => {},
  };
  return { runtime, invocations };
}

/** One builtin of the fake builtin runtime. */
export interface FakeBuiltin {
  description: string;
  inputSchema: Record<string, unknown>;
  run(input: JsonObject): unknown;
}

/**
 * `echo` returns its input; `double` wants `{ n: number }` and refuses anything else with
 * VALIDATION_ERROR, as a builtin refuses a bad input.
 */
export const FAKE_BUILTINS: Readonly<Record<string, FakeBuiltin>> = Object.freeze({
  echo: {
    description: "Returns its input unchanged.",
    inputSchema: { type: "object", additionalProperties: true },
    run: (input) => input,
  },
  double: {
    description: "Doubles n.",
    inputSchema: { type: "object", properties: { n: { type: "number" } }, required: ["n"] },
    run(input) {
      if (typeof input.n !== "number") {
        throw new AppError("VALIDATION_ERROR", "Invalid input for builtin double", {
          issues: [{ path: ["n"], message: "a number", code: "invalid_type" }],
        });
      }
      return { doubled: input.n * 2 };
    },
  },
});

/**
 * A `builtin` runtime over `FAKE_BUILTINS`, for tests of the engine itself: the real one
 * (`@spell/runtime-builtin`) depends on the engine, so the engine cannot use it.
 */
export function createFakeBuiltinRuntime(
  builtins: Readonly<Record<string, FakeBuiltin>> = FAKE_BUILTINS,
): Runtime {
  const find = (name: string | null) =>
    name !== null && Object.hasOwn(builtins, name) ? builtins[name] : undefined;
  return {
    kind: "builtin",
    prepare(artifact) {
      if (!("builtin" in artifact) || !find(artifact.builtin)) {
        const name = "builtin" in artifact ? artifact.builtin : null;
        throw new AppError("ARTIFACT_INVALID", `No builtin named ${name}`, { builtin: name });
      }
      return acceptArtifact(artifact);
    },
    async run({ spell, input }) {
      const builtin = find(spell.artifact.builtin);
      if (!builtin) {
        throw new AppError("RUNTIME_ERROR", "builtin not available", { builtin: spell.artifact.builtin });
      }
      return { output: builtin.run(input) };
    },
    describe(artifact) {
      const builtin = find(artifact.builtin);
      return builtin ? { description: builtin.description, inputSchema: builtin.inputSchema } : null;
    },
    close: async () => {},
  };
}

/** Tokens are plain `Bearer <userId>` (prefix `admin:` for admins, `publish:` for spell:publish) in these tests. */
export const fakeAuthenticate =
  (calls: string[] = []): Authenticate =>
  async (authorization) => {
    calls.push("auth.verify");
    const token = authorization?.replace(/^Bearer\s+/i, "");
    if (!token) throw new AppError("UNAUTHORIZED", "Missing bearer token", { reason: "missing_token" });
    if (token === "forged") throw new AppError("UNAUTHORIZED", "Bad signature", { reason: "bad_signature" });
    const isAdmin = token.startsWith("admin:");
    // `publish:<id>`: a token carrying spell:publish (an author, or Rune's machine token).
    const isPublisher = token.startsWith("publish:");
    const id = isAdmin ? token.slice("admin:".length) : isPublisher ? token.slice("publish:".length) : token;
    return {
      userId: id,
      subject: id,
      issuer: "https://tests.example",
      isAdmin,
      scopes: isAdmin ? ["spell:admin"] : isPublisher ? ["spell:publish"] : [],
    };
  };

export function createMemoryEngineDeps(overrides: Partial<EngineDeps> = {}) {
  const ports = createMemoryPorts();
  const billing = createRecordingBilling(ports.calls, ports.applySettled);
  const deps: EngineDeps = {
    authenticate: fakeAuthenticate(ports.calls),
    users: ports.userStore,
    admin: ports.adminStore,
    spells: ports.spellStore,
    authors: ports.authorStore,
    executions: ports.executionLog,
    billing: billing.billing,
    runtimes: [createFakeBuiltinRuntime()],
    duplicateWaitMs: 2_000,
    ...overrides,
  };
  return { deps, ports, billing };
}
