import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../testing/index.ts";
import { migrateDatabase } from "./migrate.ts";
import { loadMigrations } from "./migrations.ts";

let t: TestDatabase;
let client: pg.Client;

/** Back to an empty database (no tables, no migration history), as on a first deploy. */
async function wipe() {
  await client.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

async function history() {
  const result = await client.query<{ migration_name: string; finished: boolean }>(
    "SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY migration_name",
  );
  return result.rows;
}

beforeAll(async () => {
  t = await createTestDatabase({ url: process.env.DATABASE_URL });
  await t.database.close();
  client = new pg.Client({ connectionString: t.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await t?.drop();
});

describe("migrateDatabase", () => {
  it("applies every committed migration once, recording them as prisma migrate deploy does", async () => {
    await wipe();
    const names = (await loadMigrations()).map((migration) => migration.name);
    expect(await migrateDatabase(t.url)).toEqual({ applied: names });
    expect(await history()).toEqual(names.map((migration_name) => ({ migration_name, finished: true })));
    expect(await migrateDatabase(t.url)).toEqual({ applied: [] });
    expect(await history()).toHaveLength(names.length);
  });

  it("creates the CHECK constraints the Prisma schema cannot express", async () => {
    await expect(client.query("INSERT INTO users (id, status) VALUES ('x', 'suspended')")).rejects.toThrow(
      /users_status_check/,
    );
  });

  it("lets concurrent callers race: one applies, the others find nothing left to do", async () => {
    await wipe();
    const results = await Promise.all([1, 2, 3, 4].map(() => migrateDatabase(t.url)));
    const applied = results.flatMap((result) => result.applied);
    expect(applied).toEqual((await loadMigrations()).map((migration) => migration.name));
    expect(await history()).toHaveLength(applied.length);
  });

  it("waits while another migrator holds the lock", async () => {
    await wipe();
    const other = new pg.Client({ connectionString: t.url });
    await other.connect();
    try {
      // Another process mid-migration: it holds the migration lock (and, on an embedded PGlite, its
      // open transaction holds the only backend).
      await other.query("BEGIN");
      await other.query("SELECT pg_advisory_lock(7369100001)");
      let settled = false;
      const migration = migrateDatabase(t.url).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(settled).toBe(false);
      await other.query("SELECT pg_advisory_unlock(7369100001)");
      await other.query("COMMIT");
      expect((await migration).applied.length).toBeGreaterThan(0);
    } finally {
      await other.end();
    }
  });
});
