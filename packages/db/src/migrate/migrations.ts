import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/** The package's committed Prisma layout: `prisma/migrations/<timestamp>_<name>/migration.sql`. */
export const prismaDir = fileURLToPath(new URL("../../prisma/", import.meta.url));
export const migrationsDir = fileURLToPath(new URL("../../prisma/migrations/", import.meta.url));
export const schemaPath = fileURLToPath(new URL("../../prisma/schema.prisma", import.meta.url));

export interface MigrationSource {
  name: string;
  sql: string;
}

let cached: Promise<MigrationSource[]> | undefined;

/** The committed migrations in the order Prisma applies them (directory names sort by timestamp). */
export function loadMigrations(): Promise<MigrationSource[]> {
  cached ??= (async () => {
    const entries = await readdir(migrationsDir, { withFileTypes: true });
    const names = entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    return Promise.all(
      names.map(async (name) => ({
        name,
        sql: await readFile(`${migrationsDir}${name}/migration.sql`, "utf8"),
      })),
    );
  })();
  return cached;
}
