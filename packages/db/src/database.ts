import { PrismaPg } from "@prisma/adapter-pg";
import type { BillingStore, LedgerStore } from "@spell/billing";
import type {
  AdminStore,
  AsyncExecutionStore,
  AuthorStore,
  ExecutionLog,
  SpellStore,
  UserStore,
} from "@spell/engine";
import pg from "pg";
import { isEmbeddedUrl } from "./embedded.ts";
import { PrismaClient } from "./generated/prisma/client.ts";
import { createAdminStore } from "./repositories/admin.ts";
import { createAuthorStore } from "./repositories/authors.ts";
import { createBillingStore } from "./repositories/billing.ts";
import { createAsyncExecutionStore, createExecutionLog } from "./repositories/executions.ts";
import { createLedgerStore } from "./repositories/ledger.ts";
import { createSpellStore } from "./repositories/spells.ts";
import { createUserStore } from "./repositories/users.ts";
import { query, type Sql } from "./sql.ts";

export interface Database {
  /** The typed client, for everything off the hot path (billing, admin tooling). */
  prisma: PrismaClient;
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  /** Authors' versions, rollback, unpublish and views (issue 12). */
  authors: AuthorStore;
  executions: ExecutionLog;
  /** Asynchronous executions (issue 13): queue, claim, cancel, the owner's reads. */
  asyncExecutions: AsyncExecutionStore;
  /** Customers, billing records and webhook events, for the billing adapters. */
  billing: BillingStore;
  /** The prepaid ledger (balances, entries, caps), for the prepaid billing adapter. */
  ledger: LedgerStore;
  /** One round trip; throws SERVICE_UNAVAILABLE when the database cannot be reached. */
  ping(): Promise<void>;
  /** The connection pools' counts now, for metrics: `main` (shared), `log` (execution rows, if any). */
  stats(): DatabaseStats;
  close(): Promise<void>;
}

/** One pg pool's counts: connections open, open and unused, and queries waiting for one. */
export interface PoolStats {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

export interface DatabaseStats {
  main: PoolStats;
  log?: PoolStats;
}

function poolStats(pool: pg.Pool): PoolStats {
  return { totalCount: pool.totalCount, idleCount: pool.idleCount, waitingCount: pool.waitingCount };
}

export interface DatabaseOptions {
  url: string;
  /** Connections shared by Prisma and the repositories (default 10). */
  poolSize?: number;
  /**
   * Prepare hot statements under a name, once per connection (default: yes, except for a server
   * started by `startEmbeddedPostgres`, whose single backend would see the names collide).
   */
  preparedStatements?: boolean;
}

/**
 * One pg pool serves both the Prisma client (through the pg driver adapter) and the repositories'
 * hot-path statements, which go straight to pg as named prepared statements: measured 3–8× faster per
 * call than `$queryRaw` or the typed client (bench/hot-path.ts).
 */
export function createDatabase(options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
  });
  // An idle connection dropped by the server must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const embedded = isEmbeddedUrl(options.url);
  const sql: Sql = { pool, prepared: options.preparedStatements ?? !embedded };
  // Rows of free executions without a key are written with asynchronous commit on two connections of
  // their own: the response no longer waits for a WAL flush. A Postgres crash may lose the last
  // fraction of a second of such rows; nothing money or replays depend on is written this way. The
  // embedded server runs every connection in one session, where the setting would leak: not there.
  // Set at connection start-up (not by a query on "connect", which would race the pool's first one).
  const logPool = embedded
    ? undefined
    : new pg.Pool({
        connectionString: options.url,
        max: 2,
        connectionTimeoutMillis: 5_000,
        options: "-c synchronous_commit=off",
      });
  logPool?.on("error", () => {});
  let closed: Promise<void> | undefined;
  return {
    prisma,
    users: createUserStore(sql),
    admin: createAdminStore(sql),
    spells: createSpellStore(sql),
    authors: createAuthorStore(sql),
    executions: createExecutionLog(sql, logPool ? { ...sql, pool: logPool } : sql, { asyncBegin: !embedded }),
    asyncExecutions: createAsyncExecutionStore(sql),
    billing: createBillingStore(sql),
    ledger: createLedgerStore(sql),
    async ping() {
      await query(pool, "SELECT 1", []);
    },
    stats() {
      return logPool ? { main: poolStats(pool), log: poolStats(logPool) } : { main: poolStats(pool) };
    },
    close() {
      closed ??= (async () => {
        await prisma.$disconnect();
        await Promise.all([pool.end(), logPool?.end()]);
      })();
      return closed;
    },
  };
}
