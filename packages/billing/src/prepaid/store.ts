/**
 * The prepaid ledger's persistence, implemented over Postgres by `@spell/db` (`database.ledger`).
 * Amounts are micros (see units.ts). Every money movement is one ledger entry written in the same
 * statement as the balance row it changes, so the sum of a user's entries is always the balance.
 */

export const LEDGER_ENTRY_KINDS = ["top_up", "reserve", "debit", "release", "refund", "adjustment"] as const;
export type LedgerEntryKind = (typeof LEDGER_ENTRY_KINDS)[number];

export interface LedgerEntry {
  id: string;
  userId: string;
  currency: string;
  kind: LedgerEntryKind;
  /** Signed micros: + top_up / release, − reserve, 0 for a debit (it makes a reserve final). */
  amount: number;
  balanceAfter: number;
  executionId: string | null;
  /** For a debit or release: the reserve it settles. */
  reserveId: string | null;
  paymentIntentId: string | null;
  description: string | null;
  createdAt: Date;
}

/** Caps in micros per UTC day and month; null is no cap. */
export interface SpendLimits {
  daily: number | null;
  monthly: number | null;
}

export interface AutoReload {
  /** Reload when the balance falls below this (micros). */
  threshold: number;
  /** Minor units charged to the saved card per reload. */
  amount: number;
  /** At most this many minor units reloaded per UTC month; null: no cap. */
  monthlyCap: number | null;
}

export interface LedgerAccount {
  userId: string;
  currency: string;
  balance: number;
  /** Spent (reserved and not released) in the current UTC day / month, micros. */
  daySpent: number;
  monthSpent: number;
  /** `YYYY-MM-DD` of the day and of the first day of the month the counters are for. */
  dayStart: string;
  monthStart: string;
  adminLimits: SpendLimits;
  userLimits: SpendLimits;
  autoReload: AutoReload | null;
  autoReloadMonthTotal: number;
}

export interface ReserveRequest {
  userId: string;
  currency: string;
  /** Micros, > 0. */
  amount: number;
  executionId: string;
  description: string;
  /** The UTC day (`YYYY-MM-DD`) and month start (`YYYY-MM-01`) the spend counts against. */
  day: string;
  month: string;
}

export type ReserveResult =
  | {
      kind: "reserved";
      entry: LedgerEntry;
      /** The balance fell below the user's auto-reload threshold. */
      autoReloadDue: boolean;
    }
  | { kind: "insufficient"; balance: number }
  | { kind: "limit"; window: "day" | "month"; limit: number; spent: number };

export interface TopUpCredit {
  userId: string;
  currency: string;
  /** Micros, > 0. */
  amount: number;
  paymentIntentId: string;
  description: string;
}

export interface LedgerStore {
  /**
   * One statement: takes `amount` out of the balance only if the balance covers it and the day and
   * month caps admit it, and appends the reserve entry. A second reserve for the same execution
   * returns the first.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * Settles a reserve once: `debit` (keep) or `release` (give back), and marks its `settlements` row
   * (by `settlementKey`) done in the same statement. `already` when it was settled before.
   */
  settleReserve(
    reserveId: string,
    outcome: "debit" | "release",
    settlementKey: string,
  ): Promise<"settled" | "already" | "unknown">;
  /** Credits a confirmed top-up once per PaymentIntent; `credited: false` when it already was. */
  creditTopUp(credit: TopUpCredit): Promise<{ credited: boolean; balance: number }>;
  /** The balance row (a zero one when the user never topped up in that currency). */
  account(userId: string, currency: string, day: string, month: string): Promise<LedgerAccount>;
  /** The user's entries, newest first. */
  entries(userId: string, limit: number): Promise<LedgerEntry[]>;
  setLimits(
    userId: string,
    currency: string,
    by: "admin" | "user",
    limits: Partial<SpendLimits>,
  ): Promise<void>;
  setAutoReload(userId: string, currency: string, settings: AutoReload | null): Promise<void>;
  /**
   * Claims one auto-reload when the balance is below the threshold, none is in flight (5 minutes)
   * and the month's cap admits it; returns the minor units to charge and a key unique to the claim.
   */
  claimAutoReload(
    userId: string,
    currency: string,
    month: string,
  ): Promise<{ amount: number; key: string } | null>;
  finishAutoReload(userId: string, currency: string): Promise<void>;
  /**
   * Settles what a crashed process left: pending `prepaid:` settlements (as ordered) and reserves
   * without any settlement older than `olderThanMs` (released). Returns how many were settled.
   */
  sweep(olderThanMs: number): Promise<number>;
  /** Balances whose entries do not sum to them (empty when the ledger is consistent). */
  reconcile(): Promise<Array<{ userId: string; currency: string; balance: number; sum: number }>>;
}
