import {
  AppError,
  type DisableSpellOutput,
  type RollbackOutput,
  type SpellVersionsOutput,
  type UpdateSpellOutput,
  type ZDisableSpellInput,
  type ZRollbackInput,
  type ZSpellVersionsInput,
  type ZUpdateSpellInput,
} from "@spell/contracts";
import type { z } from "zod";
import { assertMayChange, assertMayView } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";
import type { AuthorStore, SpellLookup, SpellUpdate } from "../ports.ts";
import { assertTeamUsable, requireAuthors, withDeclaredSchemas } from "../publish/publish.ts";
import { changedFields, toPublishedSpell } from "./changes.ts";

async function findSpell(context: EngineContext, session: Session, slug: string): Promise<SpellLookup> {
  const lookup = await context.spells.findBySlug(slug, session.caller.userId);
  if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${slug}`, { spell: slug });
  return lookup;
}

/**
 * Changes only the fields given. Metadata and schemas live in the (immutable) artifact version, so a
 * change to them writes a new version of the same artifact; price and visibility are the spell's.
 * A run that already started keeps the price it was quoted: execute reads the spell once.
 */
export async function updateSpell(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZUpdateSpellInput>,
): Promise<UpdateSpellOutput> {
  const lookup = await findSpell(context, session, input.slug);
  assertMayChange(session, lookup, input.slug);
  const store = requireAuthors(authors);
  const before = lookup.spell;
  const update: SpellUpdate = { updatedBy: session.caller.userId };
  const visibility = input.visibility ?? before.visibility;
  const teamId = input.teamId !== undefined ? input.teamId : before.teamId;
  await assertTeamUsable(store, session, visibility, teamId, before.teamId);
  if (visibility !== before.visibility) update.visibility = visibility;
  if (teamId !== before.teamId) update.teamId = teamId;
  const price = {
    amount: input.priceAmount ?? before.price.amount,
    currency: input.currency ?? before.price.currency,
  };
  if (price.amount !== before.price.amount || price.currency !== before.price.currency) {
    if (price.amount > 0) context.billing.assertChargeable(price);
    update.price = price;
  }
  if (input.metadata !== undefined || input.inputSchema !== undefined || input.outputSchema !== undefined) {
    const metadata =
      input.metadata !== undefined
        ? withDeclaredSchemas(context, input.metadata, input)
        : withDeclaredSchemas(context, before.artifact.metadata, input, { onlyFields: true });
    update.metadata = metadata;
  }
  const after = await store.update(before.id, update);
  return { ok: true, changed: changedFields(before, after), spell: toPublishedSpell(after) };
}

export async function spellVersions(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZSpellVersionsInput>,
): Promise<SpellVersionsOutput> {
  const lookup = await findSpell(context, session, input.slug);
  assertMayView(session, lookup, input.slug);
  const versions = await requireAuthors(authors).listVersions(lookup.spell.id);
  return {
    ok: true,
    slug: lookup.spell.slug,
    disabled: lookup.spell.disabled === true,
    versions: versions.map((version, index) => ({
      version: index + 1,
      artifactId: version.artifactId,
      runtime: version.runtime,
      sha256: version.sha256,
      createdBy: version.createdBy,
      createdAt: version.createdAt.toISOString(),
      current: version.artifactId === lookup.spell.artifact.id,
    })),
  };
}

/** Re-points the spell at an earlier version of its own, in one statement; nothing is cached to clear. */
export async function rollbackSpell(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZRollbackInput>,
): Promise<RollbackOutput> {
  const lookup = await findSpell(context, session, input.slug);
  assertMayChange(session, lookup, input.slug);
  const store = requireAuthors(authors);
  const versions = await store.listVersions(lookup.spell.id);
  const index = versions.findIndex((version, i) =>
    input.artifactId !== undefined ? version.artifactId === input.artifactId : i + 1 === input.version,
  );
  const target = versions[index];
  if (!target) {
    throw new AppError("NOT_FOUND", `${input.slug} has no such version`, {
      spell: input.slug,
      ...(input.version !== undefined ? { version: input.version } : { artifactId: input.artifactId }),
      versions: versions.length,
    });
  }
  // The spell's config belongs to its runtime: a version of another runtime cannot run with it.
  if (target.runtime !== lookup.spell.runtime) {
    throw new AppError("ARTIFACT_INVALID", `Version ${index + 1} is a ${target.runtime} artifact`, {
      reason: "runtime_mismatch",
      runtime: lookup.spell.runtime,
      versionRuntime: target.runtime,
    });
  }
  const spell = await store.rollback(lookup.spell.id, target.artifactId);
  if (!spell) throw new AppError("NOT_FOUND", `${input.slug} has no such version`, { spell: input.slug });
  return {
    ok: true,
    previousArtifactId: lookup.spell.artifact.id,
    version: index + 1,
    spell: toPublishedSpell(spell),
  };
}

/** Unpublish (or enable again): execute answers SPELL_DISABLED; versions, runs and money records stay. */
export async function disableSpell(
  context: EngineContext,
  authors: AuthorStore | null,
  session: Session,
  input: z.output<typeof ZDisableSpellInput>,
): Promise<DisableSpellOutput> {
  const lookup = await findSpell(context, session, input.slug);
  assertMayChange(session, lookup, input.slug);
  const after = await requireAuthors(authors).setDisabled(lookup.spell.id, input.disabled);
  return { ok: true, changed: changedFields(lookup.spell, after), spell: toPublishedSpell(after) };
}
