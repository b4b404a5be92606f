import type { NewExecution } from "@spell/engine";

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
  /** The last reload that did not credit anything (cleared by the next one that does). */
  autoReloadFailure: { at: Date; code: string } | null;
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
  | { kind: "limit"; window: "day" | "month"; limit: number; spent: number }
  /**
   * The execution's reserve exists and is settled already — released by the sweep after its first
   * attempt's process died, before a retry with the same key took the row over. It cannot pay twice
   * and must not run unpaid: the retry is refused.
   */
  | { kind: "settled"; entry: LedgerEntry };

export interface TopUpCredit {
  userId: string;
  currency: string;
  /** Micros, > 0. */
  amount: number;
  paymentIntentId: string;
  description: string;
}

/** A top-up as the ledger holds it: whose, and how much of it was refunded (micros). */
export interface TopUpRecord {
  userId: string;
  currency: string;
  paymentIntentId: string;
  /** Micros credited. */
  amount: number;
  /** Micros refunded so far (refunds less the ones Stripe did not carry out). */
  refunded: number;
}

export type RefundReservation =
  | {
      /** `existing`: the same key reserved before (a retry); carry on with Stripe. */
      kind: "reserved" | "existing";
      topUp: TopUpRecord;
      /** Minor units to give back on the card. */
      amount: number;
      /** Micros after the refund entry. */
      balance: number;
      /** True when Stripe's refund was given up on (the entry was compensated). */
      compensated: boolean;
    }
  | { kind: "unknown" }
  | { kind: "not_refundable"; topUp: TopUpRecord; refundable: number; balance: number };

export interface LedgerStore {
  /**
   * One statement: takes `amount` out of the balance only if the balance covers it and the day and
   * month caps admit it, and appends the reserve entry. A second reserve for the same execution
   * returns the first.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /**
   * The reserve of a new execution without an idempotency key together with the execution's
   * `running` row (the begin), in one statement committed asynchronously: the execution's finish,
   * a synchronous commit, makes both durable (PostgreSQL flushes its log in order), and a database
   * crash before it loses both together — the finish then finds no row and delivers nothing. A
   * refusal (`insufficient`, `limit`) writes nothing at all, neither row nor entry.
   */
  beginReserve(request: ReserveRequest & { execution: NewExecution }): Promise<ReserveResult>;
  /**
   * Settles a reserve once: `debit` (keep) or `release` (give back), and marks its `settlements` row
   * (by `settlementKey`) done in the same statement. `already` when it was settled before.
   */
  settleReserve(
    reserveId: string,
    outcome: "debit" | "release",
    settlementKey: string,
  ): Promise<"settled" | "already" | "unknown">;
  /** Which entry settled a reserve (`debit` or `release`); null while none has. */
  settlementOf(reserveId: string): Promise<"debit" | "release" | null>;
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
   * Claims one auto-reload when the balance is below the threshold, none is in flight or failed in
   * the last 5 minutes, and the month's cap admits it; returns the minor units to charge and a key
   * unique to the claim (the PaymentIntent's idempotency key).
   */
  claimAutoReload(
    userId: string,
    currency: string,
    month: string,
  ): Promise<{ amount: number; key: string } | null>;
  /**
   * Ends a claimed reload. A failure records `code`, gives `amount` minor units of the month's total
   * back (the claimed amount after a definite decline, 0 when the charge may have gone through), and
   * keeps the claim time so the next try waits out the in-flight window.
   */
  finishAutoReload(
    userId: string,
    currency: string,
    failure?: { code: string; amount: number } | null,
  ): Promise<void>;
  /**
   * Settles what a crashed process left: pending `prepaid:` settlements (as ordered) and reserves
   * without any settlement older than `olderThanMs` (released). Returns how many were settled.
   */
  sweep(olderThanMs: number): Promise<number>;
  /** The top-up credited for a PaymentIntent, null when none was. */
  topUpOf(paymentIntentId: string): Promise<TopUpRecord | null>;
  /**
   * Takes a refund of a top-up out of the balance before Stripe is asked (one transaction on the
   * locked balance row): at most what is left of that top-up and at most the balance (never money
   * already spent), in whole minor units; `amount` null: all of that. Once per `key`.
   */
  reserveRefund(request: {
    paymentIntentId: string;
    key: string;
    amount: number | null;
  }): Promise<RefundReservation>;
  /** Gives a reserved refund back (Stripe refused it): one adjustment entry per key; false if done before. */
  cancelRefund(key: string): Promise<boolean>;
  /**
   * Stripe says `refunded` minor units of this top-up are refunded (the `charge.refunded` webhook,
   * cumulative): takes what the ledger has not yet taken, at most the balance. Idempotent.
   */
  convergeRefund(
    paymentIntentId: string,
    refunded: number,
  ): Promise<{ debited: number; shortfall: number } | null>;
  /** Balances whose entries do not sum to them (empty when the ledger is consistent). */
  reconcile(): Promise<Array<{ userId: string; currency: string; balance: number; sum: number }>>;
}
