import { readFile } from "node:fs/promises";
import pg from "pg";
import { loadMigrations, migrationsDir, schemaPath } from "./migrations.ts";
import { openSchemaEngine } from "./schema-engine.ts";

/**
 * Serialises migrators. Not Prisma's own key (72707369): the engine may take that one on its own
 * connections while we hold ours, and two sessions of one key would deadlock.
 */
const MIGRATION_LOCK_KEY = 7_369_100_001;

/**
 * An embedded PGlite serves every socket from one backend session, where session advisory locks are
 * re-entrant and exclude nothing; this in-process queue covers that case (one process owns a PGlite).
 */
const inProcess = new Map<string, Promise<unknown>>();

/**
 * Applies the committed migrations that the database lacks, recording them in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does. Idempotent; concurrent callers wait for one another.
 */
export function migrateDatabase(url: string): Promise<{ applied: string[] }> {
  const previous = inProcess.get(url) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => migrateLocked(url));
  inProcess.set(url, run);
  void run
    .finally(() => {
      if (inProcess.get(url) === run) inProcess.delete(url);
    })
    .catch(() => {});
  return run;
}

async function migrateLocked(url: string): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      const done = await appliedMigrationNames(client);
      if (migrations.every((migration) => done.has(migration.name))) return { applied: [] };
      return { applied: await applyWithSchemaEngine(url, migrations) };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/** The fast path of every start after the first: one query, no engine to load. */
async function appliedMigrationNames(client: pg.Client): Promise<Set<string>> {
  const table = await client.query<{ present: boolean }>(
    "SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present",
  );
  if (!table.rows[0]?.present) return new Set();
  const rows = await client.query<{ migration_name: string }>(
    "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
  );
  return new Set(rows.rows.map((row) => row.migration_name));
}

async function applyWithSchemaEngine(url: string, migrations: { name: string; sql: string }[]) {
  const schema = { path: "schema.prisma", content: await readFile(schemaPath, "utf8") };
  const lockfile = await readFile(`${migrationsDir}migration_lock.toml`, "utf8").catch(() => null);
  const handle = await openSchemaEngine(url, schema);
  try {
    const result = await handle.engine.applyMigrations({
      migrationsList: {
        baseDir: migrationsDir,
        lockfile: { path: "migration_lock.toml", content: lockfile },
        shadowDbInitScript: "",
        migrationDirectories: migrations.map((migration) => ({
          path: migration.name,
          migrationFile: { path: "migration.sql", content: { tag: "ok", value: migration.sql } },
        })),
      },
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.appliedMigrationNames;
  } finally {
    await handle.close();
  }
}
