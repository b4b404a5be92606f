import { createHash, randomUUID } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { createDatabase, type Database } from "../database.ts";
import { serve } from "../embedded.ts";
import { migrateDatabase } from "../migrate/migrate.ts";
import { loadMigrations } from "../migrate/migrations.ts";
import { withDatabase } from "../url.ts";

export interface TestDatabase {
  url: string;
  database: Database;
  /** Closes the client and removes the database (or stops the embedded server). */
  drop(): Promise<void>;
}

export interface TestDatabaseOptions {
  /** A server to create the database on (tests pass `process.env.DATABASE_URL`); embedded when unset. */
  url?: string | undefined;
  poolSize?: number;
}

/**
 * A fresh, migrated, empty database of its own. With a server URL it is a new database on that server,
 * cloned from a template migrated once per set of migrations (CREATE DATABASE … TEMPLATE is a file
 * copy, far faster than migrating); without one, an in-memory embedded PGlite served on 127.0.0.1.
 */
export { ledgerReserveCharge, newExecution, pendingSuccess, publishRequest } from "./fixtures.ts";

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  return options.url ? createOnServer(options.url, options.poolSize) : createEmbedded(options.poolSize);
}

async function createOnServer(serverUrl: string, poolSize = 5): Promise<TestDatabase> {
  const template = await ensureTemplate(serverUrl);
  const name = `spell_test_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
  await withAdmin(serverUrl, (admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = withDatabase(serverUrl, name);
  const database = createDatabase({ url, poolSize });
  let dropped: Promise<void> | undefined;
  return {
    url,
    database,
    drop() {
      dropped ??= (async () => {
        await database.close();
        await withAdmin(serverUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      })();
      return dropped;
    },
  };
}

const TEMPLATE_LOCK_KEY = 7_369_100_002;

/** The template for the current migrations, built once per server by whichever process comes first. */
async function ensureTemplate(serverUrl: string): Promise<string> {
  const template = `spell_template_${(await migrationsDigest()).slice(0, 16)}`;
  const ready = (admin: pg.Client) =>
    admin
      .query("SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate", [template])
      .then((result) => (result.rowCount ?? 0) > 0);

  await withAdmin(serverUrl, async (admin) => {
    if (await ready(admin)) return;
    await admin.query("SELECT pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    try {
      if (await ready(admin)) return;
      // A half-built template (a crash mid-migration) is not marked as a template: start again.
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
      await admin.query(`CREATE DATABASE "${template}"`);
      await migrateDatabase(withDatabase(serverUrl, template));
      await admin.query(`ALTER DATABASE "${template}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    } finally {
      await admin.query("SELECT pg_advisory_unlock($1)", [TEMPLATE_LOCK_KEY]);
    }
  });
  return template;
}

async function withAdmin<T>(serverUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

async function createEmbedded(poolSize = 5): Promise<TestDatabase> {
  // In memory, from a snapshot of a migrated data directory: a fresh initdb plus migrations takes
  // seconds, loading the snapshot a fraction of one.
  const db = await PGlite.create({ loadDataDir: await migratedSnapshot() });
  const server = await serve(db);
  try {
    await migrateDatabase(server.url);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const database = createDatabase({ url: server.url, poolSize });
  let dropped: Promise<void> | undefined;
  return {
    url: server.url,
    database,
    drop() {
      dropped ??= (async () => {
        await database.close();
        await server.stop();
      })();
      return dropped;
    },
  };
}

let snapshot: Promise<Blob> | undefined;

/**
 * A PGlite data directory with every migration applied, cached in the OS temp directory per set of
 * migrations and PGlite build, so only the first test process of a machine pays for building it.
 */
function migratedSnapshot(): Promise<Blob> {
  snapshot ??= (async () => {
    const pglite = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    const key = createHash("sha256")
      .update(await migrationsDigest())
      .update(pglite)
      .digest("hex")
      .slice(0, 16);
    const path = join(tmpdir(), `spell-pglite-${key}.tar`);
    const cached = await readFile(path).catch(() => null);
    if (cached) return new Blob([cached]);

    const db = await PGlite.create();
    const server = await serve(db);
    try {
      await migrateDatabase(server.url);
      const dump = await db.dumpDataDir("none");
      const partial = `${path}.${process.pid}.${randomUUID()}`;
      await writeFile(partial, new Uint8Array(await dump.arrayBuffer()));
      await rename(partial, path);
      return dump;
    } finally {
      await server.stop();
    }
  })();
  snapshot.catch(() => {
    snapshot = undefined;
  });
  return snapshot;
}

async function migrationsDigest(): Promise<string> {
  const digest = createHash("sha256");
  for (const migration of await loadMigrations())
    digest.update(migration.name).update("\0").update(migration.sql);
  return digest.digest("hex");
}
