import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Where PGlite keeps its files; reusing the directory keeps the data. */
  dataDir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Concurrent client connections accepted (default 32); keep it above every pool's size. */
  maxConnections?: number;
}

/**
 * Postgres without a server install: PGlite (Postgres compiled to WebAssembly) persisted in `dataDir`
 * and served over the wire protocol on 127.0.0.1, so `pg` and Prisma's adapter connect as to any
 * server. One backend serves every connection (statements are queued; a transaction holds the
 * queue), which suits development and tests, not production load.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: options.dataDir });
  return serve(db, options);
}

/** URLs served by this process's embedded servers (their single backend changes how clients behave). */
const servedUrls = new Set<string>();

export function isEmbeddedUrl(url: string): boolean {
  if (servedUrls.size === 0) return false;
  const { host } = new URL(url);
  for (const served of servedUrls) if (new URL(served).host === host) return true;
  return false;
}

/** Serves an open PGlite on 127.0.0.1; stopping the server closes the database. */
export async function serve(
  db: PGlite,
  options: { port?: number; maxConnections?: number } = {},
): Promise<EmbeddedPostgres> {
  // pglite-socket accepts one connection unless told otherwise, and a pool needs several.
  const server = new PGLiteSocketServer({
    db,
    host: "127.0.0.1",
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 32,
  });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    throw error;
  }
  const port = Number(server.getServerConn().split(":").pop());
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  servedUrls.add(url);
  let stopped: Promise<void> | undefined;
  return {
    url,
    stop() {
      stopped ??= (async () => {
        servedUrls.delete(url);
        await server.stop();
        await db.close();
      })();
      return stopped;
    },
  };
}
