import { trpcErrorBody } from "@spell/api";
import { AppError } from "@spell/contracts";
import express, { type Express, type RequestHandler, type Response } from "express";
import type pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { requestIdOf } from "../observability/request-id.ts";
import type { BillingRouteContext } from "./billing.ts";
import { requireJsonBody } from "./guards.ts";

/** `points` executions per `durationSeconds`, per key. */
export interface RateLimitRule {
  points: number;
  durationSeconds: number;
}

export interface RateLimitConfig {
  /** Per verified caller, over every execute route. */
  perUser?: RateLimitRule | undefined;
  /** Per spell slug, over all its callers (REST execute; see Spec.md §8 for `/trpc`). */
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

export interface RateLimits {
  policies: Policy[];
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
  return { policies, close: async () => {} };
}

/** `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): every policy of the route. */
function policyHeader(policies: Policy[]): string {
  return policies.map(({ name, rule }) => `"${name}";q=${rule.points};w=${rule.durationSeconds}`).join(", ");
}

/** `RateLimit`: the policy closest to exhaustion, with what remains and seconds until it resets. */
function remainingHeader(name: string, remaining: number, resetMs: number): string {
  return `"${name}";r=${Math.max(0, remaining)};t=${Math.max(0, Math.ceil(resetMs / 1000))}`;
}

function send429(res: Response, error: AppError, transport: "rest" | "trpc"): void {
  const requestId = requestIdOf(res);
  const body = transport === "trpc" ? trpcErrorBody(error) : error.toBody();
  res.status(429).json({ ...body, ...(requestId === undefined ? {} : { requestId }) });
}

/**
 * Keys by the verified caller: the middleware asks the engine to authenticate the token (the
 * verifier caches verified tokens; the user row read is one indexed statement), so a forged token
 * cannot spend another user's allowance and one user cannot escape by minting tokens. A request
 * whose token fails is not counted here: the pipeline answers its 401/403 itself.
 */
function limitHandler(
  context: BillingRouteContext,
  policies: Policy[],
  transport: "rest" | "trpc",
): RequestHandler {
  const policyValue = policyHeader(policies);
  return async (req, res, next) => {
    res.setHeader("RateLimit-Policy", policyValue);
    let userId: string;
    try {
      userId = (await context.engine.authenticate(req.headers.authorization, "user")).user.id;
    } catch {
      return next();
    }
    const slug = transport === "rest" ? (req.body as { spell?: unknown } | undefined)?.spell : undefined;
    let tightest: { name: string; remaining: number; resetMs: number } | undefined;
    for (const policy of policies) {
      const key = policy.name === "user" ? userId : typeof slug === "string" ? slug : undefined;
      if (key === undefined) continue;
      try {
        const result = await policy.limiter.consume(key, 1);
        if (!tightest || result.remainingPoints < tightest.remaining) {
          tightest = { name: policy.name, remaining: result.remainingPoints, resetMs: result.msBeforeNext };
        }
      } catch (thrown) {
        if (!(thrown instanceof RateLimiterRes)) return next();
        const retryAfterSeconds = Math.max(1, Math.ceil(thrown.msBeforeNext / 1000));
        res.setHeader("RateLimit", remainingHeader(policy.name, 0, thrown.msBeforeNext));
        res.setHeader("Retry-After", String(retryAfterSeconds));
        return send429(
          res,
          new AppError("RATE_LIMITED", `Too many executions for this ${policy.name}; retry later`, {
            policy: policy.name,
            limit: policy.rule.points,
            windowSeconds: policy.rule.durationSeconds,
            retryAfterSeconds,
          }),
          transport,
        );
      }
    }
    if (tightest)
      res.setHeader("RateLimit", remainingHeader(tightest.name, tightest.remaining, tightest.resetMs));
    next();
  };
}

/** The execute routes, REST and tRPC (the SDK's and CLI's), with their limits; mounted before both. */
export function mountRateLimits(app: Express, limits: RateLimits, context: BillingRouteContext): void {
  if (limits.policies.length === 0) return;
  const perSpell = limits.policies.some((policy) => policy.name === "spell");
  // The slug is in the body: for REST it is parsed here with the REST route's own parser and
  // limit (body-parser then sees a finished stream and keeps `req.body`).
  app.post(
    "/api/spell/execute",
    ...(perSpell ? [requireJsonBody("rest"), express.json({ limit: context.bodyLimit, strict: true })] : []),
    limitHandler(context, limits.policies, "rest"),
  );
  const perUser = limits.policies.filter((policy) => policy.name === "user");
  if (perUser.length > 0) app.post("/trpc/spell.execute", limitHandler(context, perUser, "trpc"));
}
