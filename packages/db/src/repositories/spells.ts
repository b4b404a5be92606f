import { AppError, type JsonObject, type RuntimeKind, type Visibility } from "@spell/contracts";
import type { SpellRecord, SpellStore } from "@spell/engine";
import { isUuid, query, run, type Sql, transaction } from "../sql.ts";

export interface SpellRow {
  id: string;
  slug: string;
  runtime: RuntimeKind;
  config: JsonObject;
  price_amount: number;
  currency: string;
  visibility: Visibility;
  team_id: string | null;
  created_by: string;
  artifact_id: string;
  builtin: string | null;
  api_endpoint: string | null;
  wasm_sha256: string | null;
  metadata: JsonObject;
  disabled: boolean;
}

/** Never `wasm_binary`: the bytes are read only on a compiled-module cache miss (loadWasmBinary). */
export const SPELL_COLUMNS = `s.id, s.slug, s.runtime, s.config, s.price_amount, s.currency, s.visibility, s.team_id,
  s.created_by, a.id AS artifact_id, a.builtin, a.api_endpoint, a.wasm_sha256, a.metadata,
  s.disabled_at IS NOT NULL AS disabled`;

export function toSpellRecord(row: SpellRow): SpellRecord {
  return {
    id: row.id,
    slug: row.slug,
    runtime: row.runtime,
    config: row.config,
    price: { amount: row.price_amount, currency: row.currency },
    visibility: row.visibility,
    teamId: row.team_id,
    createdBy: row.created_by,
    artifact: {
      id: row.artifact_id,
      builtin: row.builtin,
      apiEndpoint: row.api_endpoint,
      wasmSha256: row.wasm_sha256,
      metadata: row.metadata,
    },
    ...(row.disabled ? { disabled: true as const } : {}),
  };
}

const FIND_BY_SLUG = `SELECT ${SPELL_COLUMNS}, tm.user_id IS NOT NULL AS caller_is_team_member
  FROM spells s
  JOIN artifacts a ON a.id = s.current_artifact_id
  LEFT JOIN team_members tm ON tm.team_id = s.team_id AND tm.user_id = $2
  WHERE s.slug = $1`;

const LIST_RUNNABLE = `SELECT ${SPELL_COLUMNS}
  FROM spells s
  JOIN artifacts a ON a.id = s.current_artifact_id
  WHERE s.disabled_at IS NULL AND (s.visibility = 'public'
     OR (s.visibility = 'private' AND s.created_by = $1)
     OR (s.visibility = 'team' AND EXISTS (
          SELECT 1 FROM team_members tm WHERE tm.team_id = s.team_id AND tm.user_id = $1)))
  ORDER BY s.slug`;

const UPSERT_SPELL = `INSERT INTO spells (slug, runtime, config, price_amount, currency, visibility, team_id, created_by)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
  ON CONFLICT (slug) DO UPDATE SET
    runtime = EXCLUDED.runtime, config = EXCLUDED.config, price_amount = EXCLUDED.price_amount,
    currency = EXCLUDED.currency, visibility = EXCLUDED.visibility, team_id = EXCLUDED.team_id,
    updated_at = now()
  RETURNING id, created_by, disabled_at IS NOT NULL AS disabled`;

/** A creation that only succeeds while the slug is free (the ownership check's read held to). */
const INSERT_SPELL = `INSERT INTO spells (slug, runtime, config, price_amount, currency, visibility, team_id, created_by)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
  ON CONFLICT (slug) DO NOTHING
  RETURNING id, created_by, disabled_at IS NOT NULL AS disabled`;

/** A republish of the spell whose ownership was checked: its creator is kept. */
const UPDATE_SPELL = `UPDATE spells SET runtime = $2, config = $3::jsonb, price_amount = $4, currency = $5,
    visibility = $6, team_id = $7, updated_at = now()
  WHERE id = $9 AND slug = $1 AND $8::text IS NOT NULL
  RETURNING id, created_by, disabled_at IS NOT NULL AS disabled`;

export function createSpellStore(sql: Sql): SpellStore {
  return {
    async findBySlug(slug, callerId) {
      const rows = await run<SpellRow & { caller_is_team_member: boolean }>(
        sql,
        FIND_BY_SLUG,
        [slug, callerId],
        "spells_find_by_slug",
      );
      const row = rows[0];
      if (!row) return null;
      return { spell: toSpellRecord(row), callerIsTeamMember: row.caller_is_team_member };
    },

    async listRunnable(callerId) {
      const rows = await run<SpellRow>(sql, LIST_RUNNABLE, [callerId], "spells_list_runnable");
      return rows.map(toSpellRecord);
    },

    async publish(request) {
      const { artifact } = request;
      return transaction(sql.pool, async (client) => {
        // Republishing keeps the spell's id and creator; the old artifact row stays as history.
        const values: unknown[] = [
          request.slug,
          request.runtime,
          JSON.stringify(request.config),
          request.price.amount,
          request.price.currency,
          request.visibility,
          request.teamId,
          request.createdBy,
        ];
        const expect = request.expectSpellId;
        const [spell] = await query<{ id: string; created_by: string; disabled: boolean }>(
          client,
          expect === undefined ? UPSERT_SPELL : expect === null ? INSERT_SPELL : UPDATE_SPELL,
          expect === undefined || expect === null ? values : [...values, expect],
        );
        if (!spell) {
          if (expect === undefined) throw new Error("spell upsert returned no row");
          // Another author created (or the spell changed) between the ownership check and this write.
          throw new AppError("FORBIDDEN", `${request.slug} belongs to another author`, {
            spell: request.slug,
          });
        }
        const [inserted] = await query<{ id: string }>(
          client,
          `INSERT INTO artifacts (spell_id, builtin, api_endpoint, wasm_binary, wasm_sha256, metadata, created_by)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING id`,
          [
            spell.id,
            artifact.builtin,
            artifact.apiEndpoint,
            artifact.wasmBinary ? Buffer.from(artifact.wasmBinary) : null,
            artifact.wasmSha256,
            JSON.stringify(artifact.metadata),
            request.publishedBy ?? request.createdBy,
          ],
        );
        if (!inserted) throw new Error("artifact insert returned no row");
        await query(client, "UPDATE spells SET current_artifact_id = $2 WHERE id = $1", [
          spell.id,
          inserted.id,
        ]);
        const record: SpellRecord = {
          id: spell.id,
          slug: request.slug,
          runtime: request.runtime,
          config: request.config,
          price: { amount: request.price.amount, currency: request.price.currency },
          visibility: request.visibility,
          teamId: request.teamId,
          createdBy: spell.created_by,
          artifact: {
            id: inserted.id,
            builtin: artifact.builtin,
            apiEndpoint: artifact.apiEndpoint,
            wasmSha256: artifact.wasmSha256,
            metadata: artifact.metadata,
          },
          ...(spell.disabled ? { disabled: true as const } : {}),
        };
        return record;
      });
    },

    async loadWasmBinary(artifactId) {
      const rows = isUuid(artifactId)
        ? await run<{ wasm_binary: Buffer | null }>(
            sql,
            "SELECT wasm_binary FROM artifacts WHERE id = $1",
            [artifactId],
            "artifacts_wasm_binary",
          )
        : [];
      const binary = rows[0]?.wasm_binary;
      if (!binary) {
        throw new AppError("INTERNAL_ERROR", "The artifact has no wasm binary", { artifactId });
      }
      return new Uint8Array(binary.buffer, binary.byteOffset, binary.byteLength);
    },
  };
}
