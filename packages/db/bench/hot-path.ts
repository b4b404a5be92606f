// Measures the execute hot path's reads and writes three ways, to justify the repositories' choice:
// Prisma's typed client, `$queryRaw` tagged templates (through the driver adapter), and plain pg on
// the same pool, with and without named (prepared) statements. Sequential round trips on one
// connection: this is latency per call, the number the execute benchmark's floor is made of.
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test pnpm --filter @spell/db bench
import { randomUUID } from "node:crypto";
import { createDatabase } from "../src/index.ts";
import { createTestDatabase, newExecution, publishRequest } from "../src/testing/index.ts";

const ROUNDS = 2_000;
const t = await createTestDatabase({ url: process.env.DATABASE_URL, poolSize: 1 });
try {
  const { database } = t;
  const spell = await database.spells.publish(publishRequest({ slug: "bench@v1" }));
  await database.users.ensureUser("bench-user");

  async function measure(label: string, fn: (i: number) => Promise<unknown>) {
    for (let i = 0; i < 200; i++) await fn(i);
    const start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++) await fn(i);
    const micros = Number(process.hrtime.bigint() - start) / 1_000 / ROUNDS;
    console.log(`${label.padEnd(48)} ${micros.toFixed(0).padStart(6)} µs/call`);
  }

  const { prisma } = database;
  const unprepared = createDatabase({ url: t.url, poolSize: 1, preparedStatements: false });
  await measure("ensureUser: prisma.user.findUnique", () =>
    prisma.user.findUnique({ where: { id: "bench-user" } }),
  );
  await measure(
    "ensureUser: $queryRaw",
    () =>
      prisma.$queryRaw`SELECT id, status, stripe_customer_id, default_payment_method_id IS NOT NULL AS has_pm, created_at FROM users WHERE id = ${"bench-user"}`,
  );
  await measure("ensureUser: repository (pg, unnamed)", () => unprepared.users.ensureUser("bench-user"));
  await measure("ensureUser: repository (pg, named statement)", () =>
    database.users.ensureUser("bench-user"),
  );

  await measure("findBySlug: prisma.spell.findUnique + include", () =>
    prisma.spell.findUnique({
      where: { slug: "bench@v1" },
      select: {
        id: true,
        slug: true,
        runtime: true,
        config: true,
        priceAmount: true,
        currency: true,
        visibility: true,
        teamId: true,
        createdBy: true,
        currentArtifact: {
          select: { id: true, builtin: true, apiEndpoint: true, wasmSha256: true, metadata: true },
        },
      },
    }),
  );
  await measure(
    "findBySlug: $queryRaw",
    () => prisma.$queryRaw`SELECT s.id, s.slug, s.runtime, s.config, s.price_amount, s.currency, s.visibility, s.team_id,
      s.created_by, a.id AS artifact_id, a.builtin, a.api_endpoint, a.wasm_sha256, a.metadata,
      tm.user_id IS NOT NULL AS caller_is_team_member
      FROM spells s JOIN artifacts a ON a.id = s.current_artifact_id
      LEFT JOIN team_members tm ON tm.team_id = s.team_id AND tm.user_id = ${"bench-user"}
      WHERE s.slug = ${"bench@v1"}`,
  );
  await measure("findBySlug: repository (pg, unnamed)", () =>
    unprepared.spells.findBySlug("bench@v1", "bench-user"),
  );
  await measure("findBySlug: repository (pg, named statement)", () =>
    database.spells.findBySlug("bench@v1", "bench-user"),
  );

  const outcome = {
    kind: "succeeded" as const,
    spell: { slug: "bench@v1", runtime: "builtin" as const },
    output: { ok: true },
    durationMs: 1,
    billing: { charged: false, amount: 0, currency: "usd", billingRecordId: null },
  };
  await measure("record: prisma.execution.create", () =>
    prisma.execution.create({
      data: {
        id: randomUUID(),
        userId: "bench-user",
        spellId: spell.id,
        slug: "bench@v1",
        runtime: "builtin",
        status: "succeeded",
        requestHash: "h",
        amount: 0,
        currency: "usd",
        outcome,
        finishedAt: new Date(),
      },
      select: { id: true },
    }),
  );
  await measure("record: repository (pg, named statement)", () =>
    database.executions.record(
      newExecution({ userId: "bench-user", spellId: spell.id }),
      outcome,
      new Date(),
    ),
  );
  await unprepared.close();
  await measure("begin+key: repository (pg, named statement)", (i) =>
    database.executions.begin(
      newExecution({ userId: "bench-user", spellId: spell.id, idempotencyKey: `k${i}-${randomUUID()}` }),
    ),
  );
} finally {
  await t.drop();
}
