-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "stripe_customer_id" TEXT,
    "default_payment_method_id" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bans" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "banned_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lifted_at" TIMESTAMPTZ(6),

    CONSTRAINT "bans_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team_members" (
    "team_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_members_pkey" PRIMARY KEY ("team_id","user_id")
);

-- CreateTable
CREATE TABLE "spells" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "slug" TEXT NOT NULL,
    "runtime" TEXT NOT NULL,
    "config" JSONB NOT NULL DEFAULT '{}',
    "price_amount" INTEGER NOT NULL,
    "currency" TEXT NOT NULL DEFAULT 'usd',
    "visibility" TEXT NOT NULL,
    "team_id" TEXT,
    "created_by" TEXT NOT NULL,
    "current_artifact_id" UUID,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "spells_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "artifacts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "spell_id" UUID NOT NULL,
    "builtin" TEXT,
    "api_endpoint" TEXT,
    "wasm_binary" BYTEA,
    "wasm_sha256" TEXT,
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "artifacts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "executions" (
    "id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "spell_id" UUID NOT NULL,
    "artifact_id" UUID,
    "slug" TEXT NOT NULL,
    "runtime" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "idempotency_key" TEXT,
    "request_hash" TEXT NOT NULL,
    "amount" INTEGER NOT NULL,
    "currency" TEXT NOT NULL,
    "error_code" TEXT,
    "outcome" JSONB,
    "pending_input" JSONB,
    "log" TEXT,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(6),

    CONSTRAINT "executions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "billing_records" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "user_id" TEXT NOT NULL,
    "spell_id" UUID NOT NULL,
    "execution_id" UUID,
    "amount" INTEGER NOT NULL,
    "currency" TEXT NOT NULL,
    "payment_intent_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "failure_code" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "billing_records_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "stripe_events" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_stripe_customer_id_key" ON "users"("stripe_customer_id");

-- CreateIndex
CREATE INDEX "bans_user_id_idx" ON "bans"("user_id");

-- CreateIndex
CREATE INDEX "team_members_user_id_idx" ON "team_members"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "spells_slug_key" ON "spells"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "spells_current_artifact_id_key" ON "spells"("current_artifact_id");

-- CreateIndex
CREATE INDEX "spells_visibility_idx" ON "spells"("visibility");

-- CreateIndex
CREATE INDEX "spells_team_id_idx" ON "spells"("team_id");

-- CreateIndex
CREATE INDEX "spells_created_by_idx" ON "spells"("created_by");

-- CreateIndex
CREATE INDEX "artifacts_spell_id_idx" ON "artifacts"("spell_id");

-- CreateIndex
CREATE INDEX "executions_user_id_created_at_idx" ON "executions"("user_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "executions_spell_id_idx" ON "executions"("spell_id");

-- CreateIndex
CREATE UNIQUE INDEX "executions_user_id_idempotency_key_key" ON "executions"("user_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "billing_records_execution_id_key" ON "billing_records"("execution_id");

-- CreateIndex
CREATE UNIQUE INDEX "billing_records_payment_intent_id_key" ON "billing_records"("payment_intent_id");

-- CreateIndex
CREATE INDEX "billing_records_user_id_status_idx" ON "billing_records"("user_id", "status");

-- CreateIndex
CREATE INDEX "billing_records_spell_id_idx" ON "billing_records"("spell_id");

-- AddForeignKey
ALTER TABLE "bans" ADD CONSTRAINT "bans_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_members" ADD CONSTRAINT "team_members_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "spells" ADD CONSTRAINT "spells_current_artifact_id_fkey" FOREIGN KEY ("current_artifact_id") REFERENCES "artifacts"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_spell_id_fkey" FOREIGN KEY ("spell_id") REFERENCES "spells"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "executions" ADD CONSTRAINT "executions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "executions" ADD CONSTRAINT "executions_spell_id_fkey" FOREIGN KEY ("spell_id") REFERENCES "spells"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "executions" ADD CONSTRAINT "executions_artifact_id_fkey" FOREIGN KEY ("artifact_id") REFERENCES "artifacts"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "billing_records" ADD CONSTRAINT "billing_records_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "billing_records" ADD CONSTRAINT "billing_records_spell_id_fkey" FOREIGN KEY ("spell_id") REFERENCES "spells"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "billing_records" ADD CONSTRAINT "billing_records_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions"("id") ON DELETE SET NULL ON UPDATE CASCADE;


-- Enum-like text columns: Prisma's schema language cannot express CHECK constraints, so they live here.
ALTER TABLE "users" ADD CONSTRAINT "users_status_check" CHECK ("status" IN ('active', 'banned'));
ALTER TABLE "spells" ADD CONSTRAINT "spells_runtime_check" CHECK ("runtime" IN ('builtin', 'api', 'wasm'));
ALTER TABLE "spells" ADD CONSTRAINT "spells_visibility_check" CHECK ("visibility" IN ('public', 'team', 'private'));
ALTER TABLE "spells" ADD CONSTRAINT "spells_price_amount_check" CHECK ("price_amount" >= 0);
ALTER TABLE "executions" ADD CONSTRAINT "executions_runtime_check" CHECK ("runtime" IN ('builtin', 'api', 'wasm'));
ALTER TABLE "executions" ADD CONSTRAINT "executions_status_check" CHECK ("status" IN ('running', 'pending_payment', 'succeeded', 'failed'));
ALTER TABLE "executions" ADD CONSTRAINT "executions_amount_check" CHECK ("amount" >= 0);
ALTER TABLE "billing_records" ADD CONSTRAINT "billing_records_status_check" CHECK ("status" IN ('pending', 'requires_action', 'succeeded', 'failed', 'refunded', 'canceled'));
ALTER TABLE "billing_records" ADD CONSTRAINT "billing_records_amount_check" CHECK ("amount" >= 0);
