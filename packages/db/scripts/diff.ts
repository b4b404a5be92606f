// Prints the SQL that takes the database schema of the committed migrations to prisma/schema.prisma:
// the body of the next migration. `prisma migrate dev` needs the native engine, which cannot be
// downloaded here; this uses the same engine built to WebAssembly.
//   pnpm db:diff > prisma/migrations/<yyyymmddhhmmss>_<name>/migration.sql
// Needs DATABASE_URL: a server where it may create and drop a scratch (shadow) database.
import { diffMigrationsToSchema } from "../src/migrate/diff.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required (a server where a scratch database may be created)");
  process.exit(2);
}
process.stdout.write(await diffMigrationsToSchema(url));
