import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { ExecutionNotes, RateLimitState } from "@spell/engine";
import type { Express, RequestHandler } from "express";
import pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { requestFactsOf } from "../observability/access-log.ts";

/** `points` executions per `durationSeconds`, per key. */
export interface RateLimitRule {
  points: number;
  durationSeconds: number;
}

export interface RateLimitConfig {
  /** Per verified caller, over every execute route. */
  perUser?: RateLimitRule | undefined;
  /** Per spell slug, over all its callers. */
  perSpell?: RateLimitRule | undefined;
}

/** `60/60` → 60 points per 60 seconds (what `SPELL_RATE_LIMIT_USER` / `_SPELL` hold). */
export function parseRateLimitRule(text: string): RateLimitRule {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*(s)?\s*$/.exec(text);
  const points = Number(match?.[1]);
  const durationSeconds = Number(match?.[2]);
  if (!match || points < 1 || durationSeconds < 1) {
    throw new Error(`a rate limit is "<points>/<seconds>", e.g. 60/60; got "${text}"`);
  }
  return { points, durationSeconds };
}

interface Policy {
  name: "user" | "spell";
  rule: RateLimitRule;
  limiter: RateLimiterAbstract;
  /** Points this process took ahead from the shared count (Postgres limiters only). */
  leases?: Leases;
}

/** A process takes at most this share of what a key has left in one statement… */
const LEASE_SHARE = 64;
/** …and never more than this many points. */
const LEASE_MAX = 50;
/** Keys with a live lease a process keeps before it forgets the expired ones (then all). */
const LEASES_MAX_KEYS = 50_000;

interface Lease {
  /** Points taken from the shared count and not used yet, here. */
  left: number;
  /** What the shared count had left after this process's last statement for the key. */
  shared: number;
  /** When the key's window ends (epoch ms). */
  resetAt: number;
}

/**
 * Shared counting without a statement per execute, never admitting more than the shared count
 * allows: when a key has much left in its window, one statement takes several points for this
 * process at once (1/64 of what is left, at most 50; exactly one when few are left — a limit of
 * 60/min is counted one by one, as before) and the next executes here spend them in memory. Points
 * taken count as spent for every process, so no number of processes can exceed the limit; what one
 * process took and does not use is lost for the rest of the window (at most 1/64 of what was left
 * per process: a caller spread over processes may be refused that little early).
 */
class Leases {
  private readonly byKey = new Map<string, Lease>();

  constructor(private readonly policy: { name: string; rule: RateLimitRule }) {}

  /** One point of this process's lease on `key`, spent now; null when there is none left. */
  take(key: string, now: number): RateLimitState | null {
    const lease = this.byKey.get(key);
    if (!lease || lease.left <= 0 || lease.resetAt <= now) return null;
    lease.left--;
    return this.state(lease.shared + lease.left, lease.resetAt - now, false);
  }

  /** Whether this process holds unused points of `key` in its current window. */
  has(key: string, now: number): boolean {
    const lease = this.byKey.get(key);
    return lease !== undefined && lease.left > 0 && lease.resetAt > now;
  }

  /** How many points the next statement for `key` takes. */
  size(key: string, now: number): number {
    const lease = this.byKey.get(key);
    const left = lease && lease.resetAt > now ? lease.shared : this.policy.rule.points;
    return Math.max(1, Math.min(LEASE_MAX, Math.floor(left / LEASE_SHARE)));
  }

  /** The statement took `taken` points, of which `granted` (≥ 1) admit executes, one of them now. */
  grant(key: string, granted: number, shared: number, resetMs: number, now: number): RateLimitState {
    if (this.byKey.size >= LEASES_MAX_KEYS) this.forgetExpired(now);
    const lease = { left: granted - 1, shared: Math.max(0, shared), resetAt: now + resetMs };
    this.byKey.set(key, lease);
    return this.state(lease.shared + lease.left, resetMs, false);
  }

  private forgetExpired(now: number): void {
    for (const [key, lease] of this.byKey) if (lease.resetAt <= now) this.byKey.delete(key);
    // Forgetting a live lease only gives up its points: never more executes than allowed.
    if (this.byKey.size >= LEASES_MAX_KEYS) this.byKey.clear();
  }

  private state(remaining: number, resetMs: number, refused: boolean): RateLimitState {
    return {
      policy: this.policy.name,
      limit: this.policy.rule.points,
      windowSeconds: this.policy.rule.durationSeconds,
      remaining,
      resetMs,
      refused,
    };
  }
}

/**
 * The execute rate limits. `consume` is the engine's port (`Billing.rateLimits`): the pipeline
 * calls it once the spell is known (after visibility, before the price), so REST, tRPC, MCP and
 * asynchronous executes all count the same way; `rateLimitResponses` gives REST and `/trpc` their
 * headers.
 */
export interface RateLimits {
  policies: Policy[];
  /** Counts one execution of `slug` by `userId` (see `ExecutionRateLimits` in the engine). */
  consume(userId: string, slug: string): Promise<RateLimitState | undefined>;
  close(): Promise<void>;
}

export const RATE_LIMIT_TABLE = "spell_rate_limits";
/** `key varchar(255)` in RateLimiterPostgres's table. */
const KEY_MAX_LENGTH = 255;
/**
 * Longer keys (a long issuer or subject) are counted under their hash: past varchar(255) (with the
 * `spell_user:` prefix) the statement fails and each process's insurance limiter counts alone,
 * which lets a caller through N times the limit across N processes.
 */
const KEY_HASH_OVER = 200;

const storableKey = (key: string) =>
  key.length > KEY_HASH_OVER ? `sha256:${createHash("sha256").update(key).digest("hex")}` : key;

/** Where the limiters count across processes: a Postgres server (the pool is opened here). */
export interface RateLimitStore {
  url: string;
}

/** What `RateLimiterPostgres` reads from an upsert (`_getRateLimiterRes`): the key's row after it. */
interface UpsertResult {
  rows: Array<{ points: number; expire: number | null }>;
}

interface PendingUpsert {
  key: string;
  points: number;
  msDuration: number;
  resolve: (result: UpsertResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The upserts of every limiter of a process, sent as one statement: both keys of an execute (user,
 * spell) in one round trip, and whatever arrives while a statement is out goes in the next one, so
 * a popular spell's row is updated once per statement rather than once per request (and no request
 * of this process waits on another's row lock). Each key's increments are applied in arrival order
 * and each caller gets the row as it stood after its own increment: the same counts and the same
 * answers as one library upsert per call. Keys are sorted so two processes lock rows in one order.
 */
class UpsertBatcher {
  private queue: PendingUpsert[] = [];
  private sending = false;
  private scheduled = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  add(key: string, points: number, msDuration: number): Promise<UpsertResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, points, msDuration, resolve, reject });
      if (!this.sending && !this.scheduled) {
        // After the current synchronous run, where the other policy's upsert of the same execute
        // joins (waiting for the end of the event loop's turn measured no better and adds latency).
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.send();
        });
      }
    });
  }

  private send(): void {
    if (this.sending || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sending = true;
    const byKey = new Map<string, PendingUpsert[]>();
    for (const pending of batch) {
      const calls = byKey.get(pending.key);
      if (calls) calls.push(pending);
      else byKey.set(pending.key, [pending]);
    }
    const keys = [...byKey.keys()].sort();
    const now = Date.now();
    const points = keys.map((key) => (byKey.get(key) ?? []).reduce((sum, call) => sum + call.points, 0));
    const expires = keys.map((key) => {
      const ms = byKey.get(key)?.[0]?.msDuration ?? 0;
      return ms > 0 ? now + ms : null;
    });
    const table = `"${this.table}"`;
    this.pool
      .query<{ key: string; points: number; expire: string | null }>({
        name: "spell-rate-limit-upsert",
        // RateLimiterPostgres's upsert (rlflx-upsert) for many keys: a window that has ended restarts.
        text: `INSERT INTO ${table} AS t (key, points, expire)
                 SELECT * FROM unnest($1::varchar[], $2::integer[], $3::bigint[])
               ON CONFLICT (key) DO UPDATE SET
                 points = CASE WHEN t.expire <= $4 THEN excluded.points ELSE t.points + excluded.points END,
                 expire = CASE WHEN t.expire <= $4 THEN excluded.expire ELSE t.expire END
               RETURNING key, points, expire`,
        values: [keys, points, expires, now],
      })
      .then(
        (result) => {
          for (const row of result.rows) {
            const calls = byKey.get(row.key) ?? [];
            const expire = row.expire === null ? null : Number(row.expire);
            // The row after each call's own increment: the later calls' points are not in it yet.
            let after = row.points;
            for (let i = calls.length - 1; i >= 0; i--) {
              const call = calls[i] as PendingUpsert;
              call.resolve({ rows: [{ points: after, expire }] });
              after -= call.points;
            }
            byKey.delete(row.key);
          }
          for (const calls of byKey.values()) {
            for (const call of calls) call.reject(new Error("rate limit upsert returned no row"));
          }
        },
        (error: unknown) => {
          for (const call of batch) call.reject(error);
        },
      )
      .finally(() => {
        this.sending = false;
        this.send();
      });
  }
}

/**
 * `RateLimiterPostgres` with its upsert sent through the process's batcher; everything else (the
 * answer, in-memory blocking, the insurance limiter, expiry cleanup) is the library's. A forced
 * expiry (`set`, `block`) stays the library's own statement.
 */
class BatchedRateLimiterPostgres extends RateLimiterPostgres {
  constructor(
    options: ConstructorParameters<typeof RateLimiterPostgres>[0],
    private readonly batcher: UpsertBatcher,
    ready: (error?: Error) => void,
  ) {
    super(options, ready);
  }

  _upsert(key: string, points: number, msDuration: number, forceExpire = false): Promise<unknown> {
    const library = RateLimiterPostgres.prototype as unknown as {
      _upsert(this: RateLimiterPostgres, ...args: unknown[]): Promise<unknown>;
    };
    // A key longer than the table's varchar(255) fails its statement: alone, not a whole batch.
    const alone = key.length > KEY_MAX_LENGTH;
    if (forceExpire || alone || !(this as unknown as { tableCreated: boolean }).tableCreated) {
      return library._upsert.call(this, key, points, msDuration, forceExpire);
    }
    return this.batcher.add(key, points, msDuration);
  }

  /** Milliseconds this process still refuses `key` without asking Postgres (0: not blocked). */
  blockedMs(key: string): number {
    const self = this as unknown as { getInMemoryBlockMsBeforeExpire(rlKey: string): number };
    return self.getInMemoryBlockMsBeforeExpire(this.getKey(key));
  }
}

/**
 * The limiters: on Postgres (one shared table, so every API process counts the same requests) with
 * an in-memory insurance limiter per process while Postgres cannot answer; in memory only without
 * a store (the embedded database serves one process).
 *
 * The pool is the limiters' own, with `synchronous_commit=off`: a counter lost in a Postgres crash
 * (the last fraction of a second) gives a caller a few more executions, nothing more, so no request
 * waits for a WAL flush; the prepaid ledger's pool stays synchronous.
 */
export async function createRateLimits(
  config: RateLimitConfig,
  store: RateLimitStore | undefined,
): Promise<RateLimits> {
  const rules = (
    [
      ["user", config.perUser],
      ["spell", config.perSpell],
    ] as const
  ).filter((entry): entry is ["user" | "spell", RateLimitRule] => entry[1] !== undefined);
  if (rules.length === 0) return { policies: [], consume: async () => undefined, close: async () => {} };

  const pool = store
    ? new pg.Pool({
        connectionString: store.url,
        // One statement at a time (the batcher), plus the cleanup's and the table's creation.
        max: 2,
        connectionTimeoutMillis: 5_000,
        // A statement stuck behind another process's row lock gives up and the insurance counts.
        options: "-c synchronous_commit=off -c statement_timeout=2000",
      })
    : undefined;
  pool?.on("error", () => {});
  const batcher = pool ? new UpsertBatcher(pool, RATE_LIMIT_TABLE) : undefined;
  const policies: Policy[] = [];
  try {
    for (const [name, rule] of rules) {
      const options = { points: rule.points, duration: rule.durationSeconds, keyPrefix: `spell_${name}` };
      let limiter: RateLimiterAbstract;
      if (pool && batcher) {
        const first = policies.length === 0;
        // The callback may run inside the constructor (a table already created): settle after it.
        let ready: (error?: Error) => void = () => {};
        const created = new Promise<void>((resolve, reject) => {
          ready = (error) => (error ? reject(error) : resolve());
        });
        limiter = new BatchedRateLimiterPostgres(
          {
            ...options,
            storeClient: pool,
            tableName: RATE_LIMIT_TABLE,
            // Created once by the first limiter (the second would race it on CREATE TABLE).
            tableCreated: !first,
            // Once a key is spent, this process refuses it in memory until its window ends.
            inMemoryBlockOnConsumed: rule.points,
            // One cleanup timer (unref'd, every 5 minutes) per process clears the shared table.
            clearExpiredByTimeout: first,
            insuranceLimiter: new RateLimiterMemory(options),
          } as ConstructorParameters<typeof RateLimiterPostgres>[0],
          batcher,
          (error) => ready(error),
        );
        await created;
      } else {
        limiter = new RateLimiterMemory(options);
      }
      policies.push({
        name,
        rule,
        limiter,
        ...(limiter instanceof BatchedRateLimiterPostgres ? { leases: new Leases({ name, rule }) } : {}),
      });
    }
  } catch (error) {
    await pool?.end();
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    policies,
    consume: (userId, slug) => consume(policies, userId, slug),
    close: () => {
      for (const { limiter } of policies) {
        // The library's cleanup timer has no stop of its own; it would query the ended pool.
        const timer = (limiter as unknown as { _clearExpiredTimeoutId?: NodeJS.Timeout })
          ._clearExpiredTimeoutId;
        if (timer) clearTimeout(timer);
      }
      closed ??= pool ? pool.end() : Promise.resolve();
      return closed;
    },
  };
}

/** `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): every policy of the route. */
function policyHeader(policies: Policy[]): string {
  return policies.map(({ name, rule }) => `"${name}";q=${rule.points};w=${rule.durationSeconds}`).join(", ");
}

/**
 * `RateLimit` (the policy closest to exhaustion, what remains and seconds until it resets) and, for
 * a refusal, `Retry-After`: what an execute's answer carries once the pipeline counted it.
 */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const seconds = Math.max(0, Math.ceil(state.resetMs / 1000));
  const headers: Record<string, string> = {
    RateLimit: `"${state.policy}";r=${Math.max(0, state.remaining)};t=${seconds}`,
  };
  if (state.refused) headers["Retry-After"] = String(Math.max(1, seconds));
  return headers;
}

type Outcome =
  | { policy: Policy; counted: RateLimitState }
  | { policy: Policy; refused: RateLimiterRes }
  | { policy: Policy; failed: true };

function stateOf(policy: Policy, res: RateLimiterRes, refused: boolean): RateLimitState {
  return {
    policy: policy.name,
    limit: policy.rule.points,
    windowSeconds: policy.rule.durationSeconds,
    remaining: refused ? 0 : res.remainingPoints,
    resetMs: res.msBeforeNext,
    refused,
  };
}

/**
 * Counts against every policy (per user: the verified caller, so minting tokens escapes nothing
 * and a forged token never reaches here; per spell: its canonical slug). On Postgres both are
 * counted at once (one statement, see UpsertBatcher); a key this process already refuses in memory
 * (spent until its window ends) is refused without counting the others, so a caller over its own
 * limit does not spend the spell's allowance. A store that cannot answer (Postgres down and the
 * insurance limiter too) lets the execution through: rate limits protect capacity, they are not a
 * guarantee worth refusing paid work over.
 */
async function consume(
  policies: Policy[],
  userId: string,
  slug: string,
): Promise<RateLimitState | undefined> {
  const keyOf = (policy: Policy) => storableKey(policy.name === "user" ? userId : slug);
  const now = Date.now();
  // The usual execute of busy keys: every policy spends a point this process already holds.
  if (policies.every((policy) => policy.leases?.has(keyOf(policy), now))) {
    let tightest: RateLimitState | undefined;
    for (const policy of policies) {
      const state = policy.leases?.take(keyOf(policy), now);
      if (state && (!tightest || state.remaining < tightest.remaining)) tightest = state;
    }
    return tightest;
  }
  const count = (policy: Policy): Promise<Outcome> => {
    const key = keyOf(policy);
    const leases = policy.leases;
    const taken = leases?.take(key, now);
    if (taken) return Promise.resolve({ policy, counted: taken });
    const size = leases?.size(key, now) ?? 1;
    return policy.limiter.consume(key, size).then(
      (res) => {
        const shared = policy.rule.points - res.consumedPoints;
        return {
          policy,
          counted: leases
            ? leases.grant(key, size, shared, res.msBeforeNext, now)
            : stateOf(policy, res, false),
        };
      },
      (thrown: unknown) => {
        if (!(thrown instanceof RateLimiterRes)) return { policy, failed: true as const };
        // Over the limit with a lease of several points: the part still under it is granted.
        const granted = policy.rule.points - (thrown.consumedPoints - size);
        if (leases && size > 1 && granted >= 1) {
          return { policy, counted: leases.grant(key, Math.min(granted, size), 0, thrown.msBeforeNext, now) };
        }
        return { policy, refused: thrown };
      },
    );
  };
  // A key spent in the shared count is refused in memory — unless this process still holds points of it.
  const blocked = policies.find(
    (policy) =>
      policy.limiter instanceof BatchedRateLimiterPostgres &&
      !policy.leases?.has(keyOf(policy), now) &&
      policy.limiter.blockedMs(keyOf(policy)) > 0,
  );
  let outcomes: Outcome[];
  if (blocked) {
    outcomes = [await count(blocked)];
  } else if (policies.every((policy) => policy.limiter instanceof BatchedRateLimiterPostgres)) {
    outcomes = await Promise.all(policies.map(count));
  } else {
    // In memory, counting is free: one after the other, so a refused user spends nothing of the spell's.
    outcomes = [];
    for (const policy of policies) {
      const outcome = await count(policy);
      outcomes.push(outcome);
      if ("refused" in outcome) break;
    }
  }

  let tightest: RateLimitState | undefined;
  for (const outcome of outcomes) {
    if ("refused" in outcome) return stateOf(outcome.policy, outcome.refused, true);
    if (!("counted" in outcome)) continue;
    if (!tightest || outcome.counted.remaining < tightest.remaining) tightest = outcome.counted;
  }
  return tightest;
}

/**
 * The execute routes of REST and tRPC (the SDK's and CLI's): `RateLimit-Policy` on every answer,
 * and `RateLimit` / `Retry-After` from what the pipeline noted in the request's facts (set just
 * before the head is written, whichever handler answers). Per request this is one closure: no
 * AsyncLocalStorage, whose promise hooks would tax every await of the process.
 */
export function rateLimitResponses(
  limits: Pick<RateLimits, "policies">,
): ((res: ServerResponse, notes: ExecutionNotes) => void) | undefined {
  if (limits.policies.length === 0) return undefined;
  const policyValue = policyHeader(limits.policies);
  return (res, notes) => {
    res.setHeader("RateLimit-Policy", policyValue);
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse["writeHead"]>) {
      const state = notes.rateLimit;
      if (state && !this.headersSent) {
        for (const [name, value] of Object.entries(rateLimitHeaders(state))) this.setHeader(name, value);
      }
      return writeHead.apply(this, args);
    } as ServerResponse["writeHead"];
  };
}

/** Where `mountRateLimits` leaves the decorator for the app's own execute paths (see app.ts). */
export const EXECUTE_RESPONSES = "spellExecuteResponses";

/** Mounts `rateLimitResponses` on both execute routes of `app`, before their handlers. */
export function mountRateLimits(app: Express, limits: Pick<RateLimits, "policies">): void {
  const decorate = rateLimitResponses(limits);
  if (!decorate) return;
  app.locals[EXECUTE_RESPONSES] = decorate;
  const handler: RequestHandler = (_req, res, next) => {
    decorate(res, requestFactsOf(res));
    next();
  };
  app.post("/api/spell/execute", handler);
  app.post("/trpc/spell.execute", handler);
}
