import { AppError } from "@spell/contracts";
import type pg from "pg";

/**
 * Runs one statement on the shared pool. Hot-path statements pass a `name`: pg prepares them once
 * per connection, so later calls skip parsing and planning. Connection failures become
 * SERVICE_UNAVAILABLE; anything else propagates for the caller's INTERNAL_ERROR mapping.
 */
export async function query<Row extends pg.QueryResultRow>(
  db: pg.Pool | pg.PoolClient,
  text: string,
  values: unknown[],
  name?: string,
): Promise<Row[]> {
  try {
    const result = await db.query<Row>(name ? { name, text, values } : { text, values });
    return result.rows;
  } catch (error) {
    throw toUnavailable(error);
  }
}

/** SQLSTATE classes and socket errors that mean "the database is not there right now". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/;
const UNAVAILABLE_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND"]);

export function toUnavailable(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : "";
  const unavailable =
    (typeof code === "string" && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect/i.test(message);
  return unavailable
    ? new AppError("SERVICE_UNAVAILABLE", "The database is unavailable", {}, { cause: error })
    : error;
}

/** Runs `work` in one transaction on one pooled connection. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toUnavailable(error);
  }
  try {
    await query(client, "BEGIN", []);
    const result = await work(client);
    await query(client, "COMMIT", []);
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids that cannot be uuids name nothing; asking Postgres would only raise a cast error. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The pool the repositories share, and whether hot statements may be prepared under a name. */
export interface Sql {
  pool: pg.Pool;
  /**
   * False for the embedded PGlite: it serves every connection from one backend session, where a name
   * prepared by one connection collides with the same name from the next.
   */
  prepared: boolean;
}

/** `query` on the shared pool, naming the statement only when the server keeps statements per connection. */
export function run<Row extends pg.QueryResultRow>(sql: Sql, text: string, values: unknown[], name?: string) {
  return query<Row>(sql.pool, text, values, sql.prepared ? name : undefined);
}
