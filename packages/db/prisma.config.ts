import { defineConfig } from "prisma/config";

// Read by the stock Prisma CLI only (`prisma migrate deploy` where its native engine exists). The
// package itself never reads the environment: `migrateDatabase(url)` takes the URL as an argument.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/spell" },
});
