import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { withDatabase } from "../url.ts";
import { migrateDatabase } from "./migrate.ts";
import { prismaDir, schemaPath } from "./migrations.ts";
import { lastEnginePanic, openSchemaEngine } from "./schema-engine.ts";

/**
 * The SQL from "every committed migration applied" to `prisma/schema.prisma`, for writing the next
 * migration. The committed migrations are applied to a scratch database on the given server (created
 * and dropped here), which is then introspected: the engine's own shadow-database path is avoided
 * because adapter-pg derives the shadow connection from its config, which a connection string overrides.
 */
export async function diffMigrationsToSchema(serverUrl: string): Promise<string> {
  const scratch = `spell_diff_${randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${scratch}"`);
    try {
      const url = withDatabase(serverUrl, scratch);
      await migrateDatabase(url);
      const content = await readFile(schemaPath, "utf8");
      const handle = await openSchemaEngine(url, { path: "schema.prisma", content }, { introspection: true });
      try {
        const result = await handle.engine.diff({
          // The live database the engine's adapter is connected to (the scratch one).
          from: {
            tag: "schemaDatasource",
            files: [{ path: "schema.prisma", content }],
            configDir: prismaDir,
          },
          to: { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content }] },
          script: true,
          exitCode: null,
          filters: { externalTables: [], externalEnums: [] },
        });
        return result.stdout ?? "";
      } catch (error) {
        const panic = lastEnginePanic();
        throw panic ? new Error(`schema engine panicked: ${panic}`, { cause: error }) : error;
      } finally {
        await handle.close();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}
