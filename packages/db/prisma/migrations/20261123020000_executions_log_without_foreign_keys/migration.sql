-- executions is an append-only log written on every execute. Its foreign keys made each insert take a
-- KEY SHARE lock on the same hot users and spells rows (multixacts under concurrency), the largest cost
-- of the execute path. The engine writes ids it has just read, and the indexes stay.

-- DropForeignKey
ALTER TABLE "executions" DROP CONSTRAINT "executions_user_id_fkey";

-- DropForeignKey
ALTER TABLE "executions" DROP CONSTRAINT "executions_spell_id_fkey";

-- DropForeignKey
ALTER TABLE "executions" DROP CONSTRAINT "executions_artifact_id_fkey";
