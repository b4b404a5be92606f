import {
  AppError,
  type AuthorRun,
  type AuthorRunsOutput,
  ERROR_CODES,
  type ErrorCode,
  type RunLogOutput,
  type ShareIdentityOutput,
  type SpellStatsOutput,
  type ZAuthorRunsInput,
  type ZRunLogInput,
  type ZShareIdentityInput,
  type ZSpellStatsInput,
} from "@spell/contracts";
import type { z } from "zod";
import { admit, assertMayView, authorScope, mayIdentifyCaller, mayView } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";
import type { AuthorScope, AuthorStore, RunRecord } from "../ports.ts";
import { requireAuthors } from "../publish/publish.ts";

const KNOWN_CODES = new Set<string>(ERROR_CODES);

/** Which spells a view covers: one slug (checked with `mayView`) or every spell the caller manages. */
async function viewTarget(
  context: EngineContext,
  session: Session,
  slug: string | undefined,
): Promise<{ scope: AuthorScope; spellId?: string }> {
  admit(session, "user");
  const scope = authorScope(session);
  if (slug === undefined) return { scope };
  const lookup = await context.spells.findBySlug(slug, session.caller.userId);
  if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${slug}`, { spell: slug });
  assertMayView(session, lookup, slug);
  return { scope, spellId: lookup.spell.id };
}

function toRun(session: Session, run: RunRecord): AuthorRun {
  return {
    executionId: run.executionId,
    slug: run.slug,
    runtime: run.runtime,
    artifactId: run.artifactId,
    status: run.status,
    errorCode: run.errorCode !== null && KNOWN_CODES.has(run.errorCode) ? (run.errorCode as ErrorCode) : null,
    durationMs: run.durationMs,
    callerId: mayIdentifyCaller(session, run) ? run.callerId : null,
    price: run.price,
    charged: run.charged,
    createdAt: run.createdAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

function encodeCursor(run: RunRecord): string {
  return Buffer.from(`${run.createdAt.toISOString()}|${run.executionId}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || Number.isNaN(createdAt.getTime())) {
    throw new AppError("VALIDATION_ERROR", "Invalid cursor", {
      issues: [{ path: ["cursor"], message: "not a cursor this API returned", code: "custom" }],
    });
  }
  return { createdAt, id };
}

/** The runs of the caller's spells (or one of them), newest first, paged by keyset. */
export async function authorRuns(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZAuthorRunsInput> | undefined,
): Promise<AuthorRunsOutput> {
  const { scope, spellId } = await viewTarget(context, session, input?.slug);
  const limit = input?.limit ?? 50;
  const rows = await requireAuthors(authors).listRuns({
    scope,
    limit: limit + 1,
    ...(spellId !== undefined ? { spellId } : {}),
    ...(input?.status !== undefined ? { status: input.status } : {}),
    ...(input?.from !== undefined ? { from: new Date(input.from) } : {}),
    ...(input?.to !== undefined ? { to: new Date(input.to) } : {}),
    ...(input?.cursor !== undefined ? { before: decodeCursor(input.cursor) } : {}),
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    ok: true,
    runs: page.map((run) => toRun(session, run)),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
  };
}

/** One run of a spell the caller may view: its log and outcome. Anything else is NOT_FOUND (no oracle). */
export async function runLog(
  _context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZRunLogInput>,
): Promise<RunLogOutput> {
  admit(session, "user");
  const run = await requireAuthors(authors).getRun(input.executionId, session.caller.userId);
  const owned = run && {
    spell: { createdBy: run.spellCreatedBy, teamId: run.spellTeamId },
    callerIsTeamMember: run.callerIsTeamMember,
  };
  if (!run || !owned || !mayView(session, owned)) {
    throw new AppError("NOT_FOUND", "No such run of a spell you own", { executionId: input.executionId });
  }
  const error = run.outcome?.kind === "failed" ? run.outcome.error : null;
  const upstreamStatus = error?.details.upstreamStatus;
  return {
    ok: true,
    run: {
      ...toRun(session, run),
      log: run.log,
      upstreamStatus: typeof upstreamStatus === "number" ? upstreamStatus : null,
      error: error ? { code: error.code, message: error.message } : null,
    },
  };
}

/** Runs, outcomes and captured revenue per spell and day/month (UTC). */
export async function spellStats(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZSpellStatsInput> | undefined,
): Promise<SpellStatsOutput> {
  const { scope, spellId } = await viewTarget(context, session, input?.slug);
  const period = input?.period ?? "day";
  const rows = await requireAuthors(authors).stats({
    scope,
    period,
    ...(spellId !== undefined ? { spellId } : {}),
    ...(input?.from !== undefined ? { from: new Date(input.from) } : {}),
    ...(input?.to !== undefined ? { to: new Date(input.to) } : {}),
  });
  return {
    ok: true,
    period,
    buckets: rows.map((row) => ({ ...row, periodStart: row.periodStart.toISOString() })),
  };
}

/** The caller's consent to show their id to the authors of the spells they run. */
export async function shareIdentity(
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZShareIdentityInput>,
): Promise<ShareIdentityOutput> {
  admit(session, "user");
  await requireAuthors(authors).setShareIdentity(session.caller.userId, input.share);
  return { ok: true, share: input.share };
}
