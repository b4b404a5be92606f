import {
  AppError,
  type ArtifactInput,
  findJsonBoundsViolation,
  type JsonObject,
  type PublishOutput,
  type RuntimeKind,
  type Visibility,
} from "@spell/contracts";
import { assertMayChange, assertMayPublish } from "../access.ts";
import { changedFields, toPublishedSpell } from "../authors/changes.ts";
import type { EngineContext } from "../context.ts";
import type { Engine, Session } from "../engine-types.ts";
import type { AuthorStore, RuntimeArtifact } from "../ports.ts";

type PublishInput = Parameters<Engine["publish"]>[1];

/** The artifact field each runtime kind is published with (see ZArtifactInput). */
const ARTIFACT_FIELD = {
  builtin: "builtin",
  api: "apiEndpoint",
  wasm: "wasmBase64",
} as const satisfies Record<RuntimeKind, string>;

/**
 * Creates a spell or replaces its artifact; the next execute, in every process, runs the new one.
 * Needs `spell:publish` (or admin); an existing spell only by those `assertMayChange` admits. A
 * republish changes the artifact (with its runtime and config) and nothing else unless given:
 * visibility, team, price, metadata and schemas are the current version's. The answer names what
 * changed.
 */
export async function publish(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: PublishInput,
): Promise<PublishOutput> {
  assertMayPublish(session);
  const { caller } = session;
  if (input.ownerId !== undefined && input.ownerId !== caller.userId && !caller.isAdmin) {
    throw new AppError("FORBIDDEN", "Only admins publish on behalf of another user", { field: "ownerId" });
  }
  const existing = await context.spells.findBySlug(input.slug, caller.userId);
  if (existing) assertMayChange(session, existing, input.slug);
  const before = existing?.spell ?? null;
  const visibility = input.visibility ?? before?.visibility ?? "public";
  const teamId = input.teamId !== undefined ? input.teamId : (before?.teamId ?? null);
  await assertTeamUsable(authors, session, visibility, teamId, before?.teamId ?? null);
  const price = {
    amount: input.priceAmount ?? before?.price.amount ?? 0,
    currency: input.currency ?? before?.price.currency ?? "usd",
  };
  if (price.amount > 0) context.billing.assertChargeable(price);
  const config = input.config ?? (before !== null && before.runtime === input.runtime ? before.config : {});
  // Metadata given is checked whole; kept metadata was checked when it was published.
  const metadata =
    input.metadata !== undefined
      ? withDeclaredSchemas(context, input.metadata, input)
      : withDeclaredSchemas(context, before?.artifact.metadata ?? {}, input, { onlyFields: true });
  const prepared = await prepareArtifact(context, input.runtime, input.artifact, config);
  const spell = await context.spells.publish({
    slug: input.slug,
    runtime: input.runtime,
    config,
    price,
    visibility,
    teamId,
    createdBy: before?.createdBy ?? input.ownerId ?? caller.userId,
    artifact: { ...prepared, metadata },
    publishedBy: caller.userId,
    expectSpellId: before?.id ?? null,
  });
  return {
    ok: true,
    created: before === null,
    changed: changedFields(before, spell),
    spell: toPublishedSpell(spell),
    signingSecret: context.runtimes.get(spell.runtime)?.signingSecret?.(spell) ?? null,
  };
}

/**
 * A team spell needs its team; a non-admin may only give a spell to a team they belong to (else
 * anyone could push spells into another team's listing, or let its members manage them).
 */
export async function assertTeamUsable(
  authors: AuthorStore | null,
  session: Session,
  visibility: Visibility,
  teamId: string | null,
  currentTeamId: string | null,
): Promise<void> {
  if (visibility === "team" && !teamId) {
    throw new AppError("VALIDATION_ERROR", "A team spell needs a teamId", {
      issues: [{ path: ["teamId"], message: "required when visibility is team", code: "custom" }],
    });
  }
  if (teamId === null || teamId === currentTeamId || session.caller.isAdmin) return;
  if (!(await requireAuthors(authors).isTeamMember(teamId, session.caller.userId))) {
    throw new AppError("FORBIDDEN", `You are not a member of team ${teamId}`, { teamId });
  }
}

/** The author store, which every server composes; an engine built without one cannot manage spells. */
export function requireAuthors(authors: AuthorStore | null): AuthorStore {
  if (authors === null) throw new AppError("INTERNAL_ERROR", "No author store is configured");
  return authors;
}

/** The runtime of the spell's kind validates its artifact; a kind this server does not run is refused. */
function prepareArtifact(
  context: EngineContext,
  runtime: RuntimeKind,
  artifact: ArtifactInput,
  config: JsonObject,
): Promise<RuntimeArtifact> | RuntimeArtifact {
  if (!(ARTIFACT_FIELD[runtime] in artifact)) {
    throw new AppError("ARTIFACT_INVALID", `A ${runtime} spell needs a ${runtime} artifact`, {
      runtime,
      artifact: Object.keys(artifact),
    });
  }
  const adapter = context.runtimes.get(runtime);
  if (!adapter) {
    throw new AppError("ARTIFACT_INVALID", `The ${runtime} runtime is not enabled on this server`, {
      runtime,
    });
  }
  return adapter.prepare(artifact, config);
}

/**
 * The artifact's metadata with its declared schemas, each checked first: the `inputSchema` and
 * `outputSchema` fields win over `metadata.inputSchema` / `metadata.outputSchema` (null removes
 * one). A schema that is not a usable JSON Schema 2020-12 refuses the publish (`ARTIFACT_INVALID`,
 * `details.reason: invalid_schema`, `details.field`, `details.pointer` into the schema). With
 * `onlyFields`, the metadata is the kept one and only the fields given are checked.
 */
export function withDeclaredSchemas(
  context: EngineContext,
  base: JsonObject,
  fields: { inputSchema?: unknown; outputSchema?: unknown },
  options: { onlyFields?: boolean } = {},
): JsonObject {
  const metadata: JsonObject = { ...base };
  for (const field of ["inputSchema", "outputSchema"] as const) {
    if (fields[field] === null) {
      delete metadata[field];
      continue;
    }
    if (options.onlyFields && fields[field] === undefined) continue;
    const declared = fields[field] !== undefined ? fields[field] : metadata[field];
    if (declared === undefined) continue;
    const at = fields[field] !== undefined ? field : `metadata.${field}`;
    const bounds = findJsonBoundsViolation(declared);
    const problem = bounds
      ? { pointer: bounds.path.map((segment) => `/${segment}`).join(""), message: bounds.message }
      : (context.schemas?.check(declared) ?? null);
    if (problem) {
      throw new AppError("ARTIFACT_INVALID", `${at} is not a valid JSON Schema 2020-12: ${problem.message}`, {
        reason: "invalid_schema",
        field: at,
        pointer: problem.pointer,
      });
    }
    metadata[field] = declared;
  }
  return metadata;
}
