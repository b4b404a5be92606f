-- Spell authors (issue 12): who published each artifact version, unpublished spells, and whether a
-- caller lets authors see their id in the runs of their spells.

-- AlterTable: the user who published this version, null for versions published before
ALTER TABLE "artifacts" ADD COLUMN "created_by" TEXT;

-- AlterTable: set while the spell is unpublished (execute answers SPELL_DISABLED), history kept
ALTER TABLE "spells" ADD COLUMN "disabled_at" TIMESTAMPTZ(6);

-- AlterTable: the caller's consent to show their id to the authors of the spells they run
ALTER TABLE "users" ADD COLUMN "share_id_with_authors" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex: the runs of a spell, newest first (author views)
CREATE INDEX "executions_spell_id_created_at_idx" ON "executions"("spell_id", "created_at" DESC);

-- CreateIndex: the versions of a spell in publishing order
CREATE INDEX "artifacts_spell_id_created_at_idx" ON "artifacts"("spell_id", "created_at");
