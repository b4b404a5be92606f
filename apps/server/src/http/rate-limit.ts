import { AsyncLocalStorage } from "node:async_hooks";
import { AppError } from "@spell/contracts";
import type { Express, RequestHandler, Response } from "express";
import type pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";

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
}

/**
 * The execute rate limits. `consume` is the engine's port (`Billing.rateLimits`): the pipeline
 * calls it once the spell is known (after visibility, before the price), so REST, tRPC, MCP and
 * asynchronous executes all count the same way; `mountRateLimits` gives REST and `/trpc` their
 * headers.
 */
export interface RateLimits {
  policies: Policy[];
  /** Counts one execution of `slug` by `userId`; throws RATE_LIMITED (429) when a policy is spent. */
  consume(userId: string, slug: string): Promise<void>;
  close(): Promise<void>;
}

export const RATE_LIMIT_TABLE = "spell_rate_limits";

/**
 * The limiters: on Postgres (one shared table, so every API process counts the same requests) with
 * an in-memory insurance limiter per process while Postgres cannot answer; in memory only without
 * a pool (the embedded database serves one process).
 */
export async function createRateLimits(
  config: RateLimitConfig,
  pool: pg.Pool | undefined,
): Promise<RateLimits> {
  const policies: Policy[] = [];
  for (const [name, rule] of [
    ["user", config.perUser],
    ["spell", config.perSpell],
  ] as const) {
    if (!rule) continue;
    const options = { points: rule.points, duration: rule.durationSeconds, keyPrefix: `spell_${name}` };
    let limiter: RateLimiterAbstract;
    if (pool) {
      // Sequential: two limiters creating the same table at once would race on CREATE TABLE.
      limiter = await new Promise<RateLimiterAbstract>((resolve, reject) => {
        const created: RateLimiterPostgres = new RateLimiterPostgres(
          {
            ...options,
            storeClient: pool,
            tableName: RATE_LIMIT_TABLE,
            // Its cleanup timer would keep the process alive; rows expire by `expire` on upsert.
            clearExpiredByTimeout: false,
            insuranceLimiter: new RateLimiterMemory(options),
          },
          (error?: Error) => (error ? reject(error) : resolve(created)),
        );
      });
    } else {
      limiter = new RateLimiterMemory(options);
    }
    policies.push({ name, rule, limiter });
  }
  return { policies, consume: (userId, slug) => consume(policies, userId, slug), close: async () => {} };
}

/** `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): every policy of the route. */
function policyHeader(policies: Policy[]): string {
  return policies.map(({ name, rule }) => `"${name}";q=${rule.points};w=${rule.durationSeconds}`).join(", ");
}

/** `RateLimit`: the policy closest to exhaustion, with what remains and seconds until it resets. */
function remainingHeader(name: string, remaining: number, resetMs: number): string {
  return `"${name}";r=${Math.max(0, remaining)};t=${Math.max(0, Math.ceil(resetMs / 1000))}`;
}

/**
 * The HTTP response of the execute request being served, so the limits counted deep in the
 * pipeline can set its headers (body-parser and tRPC's lean handler keep the async context).
 * Absent on MCP, where the answer is a JSON-RPC message.
 */
const responses = new AsyncLocalStorage<Response>();

function setHeaders(headers: Record<string, string>): void {
  const res = responses.getStore();
  if (!res || res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/**
 * Counts against every policy (per user: the verified caller, so minting tokens escapes nothing
 * and a forged token never reaches here; per spell: its canonical slug). A store that cannot
 * answer (Postgres down and the insurance limiter too) lets the execution through: rate limits
 * protect capacity, they are not a guarantee worth refusing paid work over.
 */
async function consume(policies: Policy[], userId: string, slug: string): Promise<void> {
  let tightest: { name: string; remaining: number; resetMs: number } | undefined;
  for (const policy of policies) {
    const key = policy.name === "user" ? userId : slug;
    try {
      const result = await policy.limiter.consume(key, 1);
      if (!tightest || result.remainingPoints < tightest.remaining) {
        tightest = { name: policy.name, remaining: result.remainingPoints, resetMs: result.msBeforeNext };
      }
    } catch (thrown) {
      if (!(thrown instanceof RateLimiterRes)) return;
      const retryAfterSeconds = Math.max(1, Math.ceil(thrown.msBeforeNext / 1000));
      setHeaders({
        RateLimit: remainingHeader(policy.name, 0, thrown.msBeforeNext),
        "Retry-After": String(retryAfterSeconds),
      });
      throw new AppError("RATE_LIMITED", `Too many executions for this ${policy.name}; retry later`, {
        policy: policy.name,
        limit: policy.rule.points,
        windowSeconds: policy.rule.durationSeconds,
        retryAfterSeconds,
      });
    }
  }
  if (tightest)
    setHeaders({ RateLimit: remainingHeader(tightest.name, tightest.remaining, tightest.resetMs) });
}

/**
 * The execute routes of REST and tRPC (the SDK's and CLI's): `RateLimit-Policy` on every answer,
 * and the response made reachable to `consume` for `RateLimit` / `Retry-After`. Mounted before both.
 */
export function mountRateLimits(app: Express, limits: RateLimits): void {
  if (limits.policies.length === 0) return;
  const policyValue = policyHeader(limits.policies);
  const handler: RequestHandler = (_req, res, next) => {
    res.setHeader("RateLimit-Policy", policyValue);
    responses.run(res, next);
  };
  app.post("/api/spell/execute", handler);
  app.post("/trpc/spell.execute", handler);
}
