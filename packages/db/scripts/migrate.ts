// Applies the committed migrations to DATABASE_URL (what `prisma migrate deploy` does, without the
// native engine that cannot be downloaded here). Safe to run while the API starts: both take the lock.
import { migrateDatabase } from "../src/index.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required, e.g. postgresql://postgres@127.0.0.1:5432/spell");
  process.exit(2);
}
const { applied } = await migrateDatabase(url);
console.log(applied.length ? `Applied: ${applied.join(", ")}` : "Database is up to date.");
