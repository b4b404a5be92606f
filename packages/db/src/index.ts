export { migrateDatabase } from "./migrate/migrate.ts";
