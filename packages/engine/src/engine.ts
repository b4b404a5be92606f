import { randomUUID } from "node:crypto";
import {
  AppError,
  type ErrorBody,
  type ExecuteOutput,
  type JsonObject,
  type Price,
  type RuntimeKind,
  toAppError,
} from "@spell/contracts";
import type { Engine, EngineDeps, ExecuteRequest, Session } from "./engine-types.ts";
import type {
  BillingSummary,
  Charge,
  Clock,
  NewExecution,
  PreparedArtifact,
  Runtime,
  SpellLookup,
  SpellRecord,
  StoredExecution,
  StoredOutcome,
  UserRecord,
} from "./ports.ts";
import { hashExecutionRequest } from "./request-hash.ts";
import { runtimeLogOf } from "./runtime-log.ts";
import { builtinInputJsonSchema, createBuiltinRuntime } from "./runtimes/builtin/index.ts";
import { assertCanRun } from "./visibility.ts";

const systemClock: Clock = { now: () => new Date(), monotonicMs: () => performance.now() };

function assertNotBanned(user: UserRecord): void {
  if (user.status === "banned") {
    throw new AppError("USER_BANNED", "This account is banned", { userId: user.id });
  }
}

function assertAdmin(session: Session): void {
  if (!session.caller.isAdmin) {
    throw new AppError("FORBIDDEN", "This operation needs the spell:admin scope", {});
  }
}

function errorOf(error: AppError): ErrorBody["error"] {
  return { code: error.code, message: error.message, details: error.details };
}

/** A charge that failed because the provider could not be reached; nothing was taken or run. */
function isRetryableFailure(execution: StoredExecution): boolean {
  const outcome = execution.outcome;
  return (
    execution.status === "failed" && outcome?.kind === "failed" && outcome.error.details.retryable === true
  );
}

function freeSummary(price: Price): BillingSummary {
  return { charged: false, amount: 0, currency: price.currency, billingRecordId: null };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createEngine(deps: EngineDeps): Engine {
  const clock = deps.clock ?? systemClock;
  const duplicateWaitMs = deps.duplicateWaitMs ?? 60_000;
  const staleRunningMs = deps.staleRunningMs ?? 10 * 60_000;
  const builtins = createBuiltinRuntime();
  const runtimes = new Map<RuntimeKind, Runtime>([["builtin", builtins]]);
  for (const runtime of deps.runtimes) runtimes.set(runtime.kind, runtime);

  async function authenticate(authorization: string | undefined): Promise<Session> {
    const caller = await deps.authenticate(authorization);
    const user = await deps.users.ensureUser(caller.userId);
    return { caller, user };
  }

  async function findRunnableSpell(session: Session, slug: string): Promise<SpellLookup> {
    const lookup = await deps.spells.findBySlug(slug, session.user.id);
    if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${slug}`, { spell: slug });
    assertCanRun(lookup, session.user.id);
    return lookup;
  }

  /** Waits for a concurrent duplicate (same user and idempotency key) to finish, then answers as it did. */
  async function answerExisting(existing: StoredExecution, requestHash: string): Promise<ExecuteOutput> {
    if (existing.requestHash !== requestHash) {
      throw new AppError(
        "IDEMPOTENCY_CONFLICT",
        "This idempotency key was already used with a different spell or input",
        { executionId: existing.id },
      );
    }
    let current: StoredExecution | null = existing;
    const deadline = clock.monotonicMs() + duplicateWaitMs;
    let delay = 5;
    while (current && current.status === "running" && clock.monotonicMs() < deadline) {
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
      current = await deps.executions.get(existing.id);
    }
    if (!current || current.status === "running" || !current.outcome) {
      throw new AppError("IDEMPOTENCY_CONFLICT", "A request with this idempotency key is still in progress", {
        executionId: existing.id,
        retryable: true,
      });
    }
    return answerFromOutcome(current);
  }

  function answerFromOutcome(execution: StoredExecution): ExecuteOutput {
    const outcome = execution.outcome;
    if (!outcome) throw new AppError("INTERNAL_ERROR", "Internal error");
    if (outcome.kind === "failed") {
      throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
    }
    return {
      ok: true,
      executionId: execution.id,
      spell: outcome.spell,
      output: outcome.output,
      billing: outcome.billing,
      durationMs: outcome.durationMs,
    };
  }

  /** Runs the artifact after payment; settles the money by the outcome and logs the execution once. */
  async function runAndRecord(args: {
    execution: NewExecution;
    spell: SpellRecord;
    input: JsonObject;
    charge: Charge | null;
    loggedAtStart: boolean;
    startedAt: number;
  }): Promise<ExecuteOutput> {
    const { execution, spell, input, charge } = args;
    const runtime = runtimes.get(spell.runtime);
    const store = (outcome: StoredOutcome, log: string | null) =>
      args.loggedAtStart
        ? deps.executions.finish(execution.id, outcome, clock.now(), log)
        : deps.executions.record(execution, outcome, clock.now(), log);
    let output: unknown;
    let log: string | null = null;
    try {
      if (!runtime) {
        throw new AppError("RUNTIME_ERROR", `The ${spell.runtime} runtime is not enabled on this server`, {
          runtime: spell.runtime,
        });
      }
      const result = await runtime.run({ executionId: execution.id, spell, input });
      output = result.output;
      log = result.log ?? null;
    } catch (thrown) {
      const error = toAppError(thrown);
      if (charge) {
        // If the provider cannot be reached to release the money now, the caller still learns why the
        // run failed; an authorization that is never captured lapses by itself.
        const settled = await deps.billing.settle(charge, "failed").then(
          ({ refunded }) => ({ refunded, settlementPending: false }),
          () => ({ refunded: false, settlementPending: true }),
        );
        error.details.billing = {
          charged: false,
          ...settled,
          amount: charge.amount,
          currency: charge.currency,
          billingRecordId: charge.billingRecordId,
        };
      }
      await store({ kind: "failed", error: errorOf(error) }, runtimeLogOf(thrown));
      throw error;
    }
    // The run happened on an authorized payment. If the capture cannot be made now, the authorization
    // lapses uncaptured: the caller still gets the output and is told they were not charged.
    const captured = charge
      ? await deps.billing.settle(charge, "succeeded").then(
          () => true,
          () => false,
        )
      : false;
    const billing: BillingSummary = charge
      ? {
          charged: captured,
          amount: charge.amount,
          currency: charge.currency,
          billingRecordId: charge.billingRecordId,
        }
      : freeSummary(execution.price);
    const durationMs = Math.max(0, Math.round(clock.monotonicMs() - args.startedAt));
    const result: ExecuteOutput = {
      ok: true,
      executionId: execution.id,
      spell: { slug: spell.slug, runtime: spell.runtime },
      output,
      billing,
      durationMs,
    };
    // Only rows written before the run can be answered again (a repeated key, a second confirm-intent),
    // so only they keep the output, which may be megabytes.
    const storedOutput = args.loggedAtStart ? output : null;
    await store({ kind: "succeeded", spell: result.spell, output: storedOutput, billing, durationMs }, log);
    return result;
  }

  async function execute(session: Session, request: ExecuteRequest): Promise<ExecuteOutput> {
    const startedAt = clock.monotonicMs();
    assertNotBanned(session.user);
    const lookup = await deps.spells.findBySlug(request.spell, session.user.id);
    return executeLoaded(session.user, lookup, request, startedAt);
  }

  /** Steps 2–8 once the caller and the spell are read (the spell only if the caller is not banned). */
  async function executeLoaded(
    user: UserRecord,
    lookup: SpellLookup | null,
    request: ExecuteRequest,
    startedAt: number,
  ): Promise<ExecuteOutput> {
    // 2. ban
    assertNotBanned(user);
    // 3. spell
    if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${request.spell}`, { spell: request.spell });
    // 4. visibility
    assertCanRun(lookup, user.id);
    const { spell } = lookup;
    // 5. price
    const price = deps.billing.quote(spell, user);
    const idempotencyKey = request.idempotencyKey ?? null;
    let execution: NewExecution = {
      id: randomUUID(),
      userId: user.id,
      spellId: spell.id,
      slug: spell.slug,
      runtime: spell.runtime,
      price,
      idempotencyKey,
      requestHash: idempotencyKey === null ? "" : hashExecutionRequest(spell.slug, request.input),
    };
    // A free execution without a key needs no row before it runs: one write after, fewer round trips.
    const loggedAtStart = idempotencyKey !== null || price.amount > 0;
    if (loggedAtStart) {
      const begun = await deps.executions.begin(execution);
      if (begun.kind === "existing") {
        const existing = begun.execution;
        const retry =
          existing.requestHash === execution.requestHash &&
          (isRetryableFailure(existing) || existing.status === "running") &&
          (await deps.executions.reopenForRetry(existing.id, staleRunningMs));
        if (!retry) return answerExisting(existing, execution.requestHash);
        // Same execution id, so the payment provider sees the same idempotency key: never a second charge.
        execution = { ...execution, id: existing.id };
      }
    }
    // 6. charge
    let charge: Charge | null = null;
    if (price.amount > 0) {
      try {
        charge = await deps.billing.charge({ executionId: execution.id, user, spell, price });
      } catch (thrown) {
        const error = toAppError(thrown);
        // The provider was unreachable: a retry with the same key may try again (see reopenForRetry).
        if (error.code === "SERVICE_UNAVAILABLE") error.details.retryable = true;
        await (error.code === "PAYMENT_REQUIRES_ACTION"
          ? deps.executions.markPendingPayment(execution.id, { input: request.input, error: errorOf(error) })
          : deps.executions.finish(execution.id, { kind: "failed", error: errorOf(error) }, clock.now()));
        throw error;
      }
    }
    // 7. run, 8. JSON
    return runAndRecord({ execution, spell, input: request.input, charge, loggedAtStart, startedAt });
  }

  async function prepareArtifact(
    input: Parameters<Engine["publish"]>[1],
  ): Promise<Omit<PreparedArtifact, "metadata">> {
    const { artifact, runtime } = input;
    if (runtime === "builtin" && "builtin" in artifact) {
      if (!builtins.has(artifact.builtin)) {
        throw new AppError("ARTIFACT_INVALID", `No builtin named ${artifact.builtin}`, {
          builtin: artifact.builtin,
        });
      }
      return { builtin: artifact.builtin, apiEndpoint: null, wasmBinary: null, wasmSha256: null };
    }
    if (
      (runtime === "api" && "apiEndpoint" in artifact) ||
      (runtime === "wasm" && "wasmBase64" in artifact)
    ) {
      const prepare = deps.preparers?.[runtime];
      if (!prepare) {
        throw new AppError("ARTIFACT_INVALID", `The ${runtime} runtime is not enabled on this server`, {
          runtime,
        });
      }
      return prepare(artifact, input.config);
    }
    throw new AppError("ARTIFACT_INVALID", `A ${runtime} spell needs a ${runtime} artifact`, {
      runtime,
      artifact: Object.keys(artifact),
    });
  }

  return {
    authenticate,

    async executeSpell(authorization, request) {
      const startedAt = clock.monotonicMs();
      // 1. token
      const caller = await deps.authenticate(authorization);
      // One read for the caller and (only if not banned) the spell; the steps below decide in order.
      const { user, lookup } = await deps.users.ensureUserWithSpell(caller.userId, request.spell);
      return executeLoaded(user, lookup, request, startedAt);
    },

    execute,

    async estimate(session, request) {
      assertNotBanned(session.user);
      const { spell } = await findRunnableSpell(session, request.spell);
      const price = deps.billing.quote(spell, session.user);
      return {
        ok: true,
        spell: { slug: spell.slug, runtime: spell.runtime, visibility: spell.visibility },
        price,
        paymentMethodRequired: price.amount > 0,
        paymentMethodOnFile: deps.billing.hasPaymentMethod(session.user),
      };
    },

    async listSpells(session) {
      assertNotBanned(session.user);
      const spells = await deps.spells.listRunnable(session.user.id);
      return {
        ok: true,
        spells: spells.map((spell) => {
          const metadata = spell.artifact.metadata;
          const builtin = spell.artifact.builtin ? builtins.get(spell.artifact.builtin) : undefined;
          const declared = metadata.inputSchema;
          return {
            slug: spell.slug,
            runtime: spell.runtime,
            price: deps.billing.quote(spell, session.user),
            visibility: spell.visibility,
            description:
              typeof metadata.description === "string"
                ? metadata.description
                : (builtin?.description ?? null),
            inputSchema:
              declared && typeof declared === "object" && !Array.isArray(declared)
                ? (declared as Record<string, unknown>)
                : builtin
                  ? builtinInputJsonSchema(builtin)
                  : null,
          };
        }),
      };
    },

    async me(session) {
      const { user, usage } = await deps.users.describe(session.user.id, 20);
      return {
        ok: true,
        user: {
          id: user.id,
          status: user.status,
          hasPaymentMethod: deps.billing.hasPaymentMethod(user),
          createdAt: user.createdAt.toISOString(),
        },
        usage,
      };
    },

    async publish(session, input) {
      assertAdmin(session);
      if (input.visibility === "team" && !input.teamId) {
        throw new AppError("VALIDATION_ERROR", "A team spell needs a teamId", {
          issues: [{ path: ["teamId"], message: "required when visibility is team", code: "custom" }],
        });
      }
      const price = { amount: input.priceAmount, currency: input.currency };
      if (price.amount > 0) deps.billing.assertChargeable(price);
      const prepared = await prepareArtifact(input);
      const spell = await deps.spells.publish({
        slug: input.slug,
        runtime: input.runtime,
        config: input.config,
        price,
        visibility: input.visibility,
        teamId: input.teamId ?? null,
        createdBy: input.ownerId ?? session.caller.userId,
        artifact: { ...prepared, metadata: input.metadata },
      });
      return {
        ok: true,
        spell: {
          id: spell.id,
          slug: spell.slug,
          runtime: spell.runtime,
          visibility: spell.visibility,
          teamId: spell.teamId,
          ownerId: spell.createdBy,
          price: spell.price,
          artifactId: spell.artifact.id,
          wasmSha256: spell.artifact.wasmSha256,
        },
        signingSecret:
          spell.runtime === "api" && deps.signingSecretFor ? deps.signingSecretFor(spell.id) : null,
      };
    },

    async ban(session, input) {
      assertAdmin(session);
      await deps.admin.banUser(input.userId, input.reason, session.caller.userId);
      return { ok: true, userId: input.userId, status: "banned" };
    },

    async unban(session, input) {
      assertAdmin(session);
      await deps.admin.unbanUser(input.userId);
      return { ok: true, userId: input.userId, status: "active" };
    },

    async setTeamMembership(session, input) {
      assertAdmin(session);
      const member = input.action === "add";
      await deps.admin.setTeamMembership(input.teamId, input.userId, member);
      return { ok: true, teamId: input.teamId, userId: input.userId, member };
    },

    async checkoutUrl(session, input) {
      assertNotBanned(session.user);
      return { ok: true, url: await deps.billing.createCheckoutUrl(session.user, input) };
    },

    async portalUrl(session, input) {
      assertNotBanned(session.user);
      return { ok: true, url: await deps.billing.createPortalUrl(session.user, input) };
    },

    async confirmIntent(session, input) {
      const startedAt = clock.monotonicMs();
      assertNotBanned(session.user);
      const resumed = await deps.billing.resumePayment(session.user, input.paymentIntentId);
      const existing = await deps.executions.get(resumed.executionId);
      if (!existing || existing.userId !== session.user.id) {
        throw new AppError("NOT_FOUND", "No pending execution for this payment", {
          paymentIntentId: input.paymentIntentId,
        });
      }
      if (existing.status !== "pending_payment") return answerExisting(existing, existing.requestHash);
      if (resumed.status !== "succeeded" || !resumed.charge) {
        throw new AppError(
          resumed.status === "failed" ? "BILLING_FAILED" : "PAYMENT_REQUIRES_ACTION",
          resumed.status === "failed" ? "The payment failed" : "The payment still needs customer action",
          { paymentIntentId: input.paymentIntentId },
        );
      }
      const claimed = await deps.executions.claimPendingPayment(existing.id);
      // Another confirmation got here first: answer as it does, never run twice.
      if (!claimed) return answerExisting(existing, existing.requestHash);
      const lookup = await deps.spells.findBySlug(existing.slug, session.user.id);
      if (!lookup)
        throw new AppError("SPELL_NOT_FOUND", `No spell ${existing.slug}`, { spell: existing.slug });
      const price = { amount: resumed.charge.amount, currency: resumed.charge.currency };
      return runAndRecord({
        execution: {
          id: existing.id,
          userId: session.user.id,
          spellId: existing.spellId,
          slug: existing.slug,
          runtime: lookup.spell.runtime,
          price,
          idempotencyKey: null,
          requestHash: existing.requestHash,
        },
        spell: lookup.spell,
        input: claimed.input,
        charge: resumed.charge,
        loggedAtStart: true,
        startedAt,
      });
    },

    async close() {
      await Promise.all([...runtimes.values()].map((runtime) => runtime.close?.()));
    },
  };
}
