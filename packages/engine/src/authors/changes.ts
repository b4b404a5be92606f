import type { JsonObject, PublishedSpell, SpellField } from "@spell/contracts";
import { canonicalJson } from "../execute/request-hash.ts";
import type { SpellRecord } from "../ports.ts";

/** A spell as its author manages it (publish, update, rollback, disable answers). */
export function toPublishedSpell(spell: SpellRecord): PublishedSpell {
  return {
    id: spell.id,
    slug: spell.slug,
    runtime: spell.runtime,
    visibility: spell.visibility,
    teamId: spell.teamId,
    ownerId: spell.createdBy,
    price: spell.price,
    artifactId: spell.artifact.id,
    wasmSha256: spell.artifact.wasmSha256,
    disabled: spell.disabled === true,
  };
}

const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

function withoutSchemas(metadata: JsonObject): JsonObject {
  const { inputSchema: _input, outputSchema: _output, ...rest } = metadata;
  return rest;
}

/** What differs between two versions of a spell, in `SPELL_FIELDS` order; a new spell is `created`. */
export function changedFields(before: SpellRecord | null, after: SpellRecord): SpellField[] {
  if (before === null) return ["created"];
  const changed: SpellField[] = [];
  const a = before.artifact;
  const b = after.artifact;
  if (a.builtin !== b.builtin || a.apiEndpoint !== b.apiEndpoint || a.wasmSha256 !== b.wasmSha256) {
    changed.push("artifact");
  }
  if (before.runtime !== after.runtime) changed.push("runtime");
  if (!same(before.config, after.config)) changed.push("config");
  if (before.visibility !== after.visibility) changed.push("visibility");
  if (before.teamId !== after.teamId) changed.push("teamId");
  if (!same(before.price, after.price)) changed.push("price");
  if (!same(withoutSchemas(a.metadata), withoutSchemas(b.metadata))) changed.push("metadata");
  if (!same(a.metadata.inputSchema, b.metadata.inputSchema)) changed.push("inputSchema");
  if (!same(a.metadata.outputSchema, b.metadata.outputSchema)) changed.push("outputSchema");
  if ((before.disabled === true) !== (after.disabled === true)) changed.push("disabled");
  return changed;
}
