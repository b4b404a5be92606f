import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "./database.ts";
import { startEmbeddedPostgres } from "./embedded.ts";
import { migrateDatabase } from "./migrate/migrate.ts";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("startEmbeddedPostgres", () => {
  it("serves a migratable Postgres on 127.0.0.1 that keeps its data across restarts", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "spell-embedded-test-"));
    dirs.push(dataDir);

    const first = await startEmbeddedPostgres({ dataDir });
    expect(first.url).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect((await migrateDatabase(first.url)).applied.length).toBeGreaterThan(0);
    const db = createDatabase({ url: first.url, poolSize: 4 });
    // More concurrent statements than connections: the socket server must accept the whole pool.
    await Promise.all(Array.from({ length: 8 }, (_, i) => db.users.ensureUser(`persisted-${i % 2}`)));
    await db.admin.banUser("persisted-1", "test", "admin");
    await db.close();
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir });
    try {
      expect(await migrateDatabase(second.url)).toEqual({ applied: [] });
      const again = createDatabase({ url: second.url });
      try {
        await again.ping();
        expect((await again.users.ensureUser("persisted-0")).status).toBe("active");
        expect((await again.users.ensureUser("persisted-1")).status).toBe("banned");
      } finally {
        await again.close();
      }
    } finally {
      await second.stop();
    }
  });
});

describe("Database.ping", () => {
  it("answers SERVICE_UNAVAILABLE when nothing listens", async () => {
    const db = createDatabase({ url: "postgresql://postgres@127.0.0.1:1/none" });
    try {
      await expect(db.ping()).rejects.toMatchObject({ code: "SERVICE_UNAVAILABLE" });
    } finally {
      await db.close();
    }
  });
});
