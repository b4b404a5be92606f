import type { BalanceOutput, LedgerEntryView, PrepaidAccountView, TopUpOutput } from "@spell/contracts";
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
}

export type { BalanceOutput };
