import type {
  BalanceOutput,
  LedgerEntryView,
  PrepaidAccountView,
  RefundTopUpOutput,
  TopUpOutput,
} from "@spell/contracts";
import type { UserRecord } from "../ports.ts";

/** Daily / monthly caps in micros; null removes one, a missing field leaves it as it is. */
export interface SpendLimitChange {
  currency?: string | undefined;
  daily?: number | null | undefined;
  monthly?: number | null | undefined;
}

export interface TopUpRequest {
  /** Minor units charged to the saved card. */
  amount: number;
  currency?: string | undefined;
  idempotencyKey: string;
}

export interface RefundRequest {
  paymentIntentId: string;
  /** Minor units; undefined: all that is refundable. */
  amount?: number | undefined;
  idempotencyKey: string;
  /** Who asks: the top-up's owner, or an admin (any user's top-up). */
  by: { userId: string; admin: boolean };
}

export interface AutoReloadSettings {
  threshold: number;
  amount: number;
  monthlyCap: number | null;
}

/**
 * The prepaid side of a billing adapter (`Billing.prepaid`, set only in prepaid mode): balances,
 * the ledger, spend caps, top-ups. The engine's spend-limits use cases call it after access checks.
 */
export interface PrepaidAccounts {
  /** The balance and caps in `currency` (default: the deployment's prepaid currency). */
  account(userId: string, currency?: string): Promise<PrepaidAccountView>;
  history(userId: string, limit: number): Promise<LedgerEntryView[]>;
  setLimits(userId: string, by: "admin" | "user", change: SpendLimitChange): Promise<void>;
  setAutoReload(
    userId: string,
    currency: string | undefined,
    settings: AutoReloadSettings | null,
  ): Promise<void>;
  topUp(user: UserRecord, request: TopUpRequest): Promise<Omit<TopUpOutput, "ok">>;
  /** Refunds the unspent part of a top-up to the card: ledger first, then Stripe (see the adapter). */
  refundTopUp(request: RefundRequest): Promise<Omit<RefundTopUpOutput, "ok">>;
}

export type { BalanceOutput };

/**
 * Execute rate limits per user and per spell (`Billing.rateLimits`, set when configured). The
 * pipeline calls it once the spell is known — after visibility, before the price — so every
 * transport (REST, tRPC, MCP, asynchronous executes) counts the same executions.
 */
export interface ExecutionRateLimits {
  /**
   * Counts one execution of `slug` by `userId`: the policy closest to exhaustion (or the one that
   * refused: `refused`, and the pipeline answers 429 RATE_LIMITED); undefined when nothing was
   * counted (the store did not answer: rate limits fail open).
   */
  consume(userId: string, slug: string): Promise<RateLimitState | undefined>;
}

/** One policy's count after an execute, what `RateLimit` / `Retry-After` headers are made of. */
export interface RateLimitState {
  /** `user` or `spell`. */
  policy: string;
  /** Points per window and the window's length. */
  limit: number;
  windowSeconds: number;
  /** What remains in the window (0 when refused). */
  remaining: number;
  /** Milliseconds until the window resets (until a retry can succeed, when refused). */
  resetMs: number;
  refused: boolean;
}
