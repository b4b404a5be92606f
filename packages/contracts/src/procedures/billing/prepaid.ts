import { z } from "zod";
import { ZCurrency } from "../../common.ts";

/**
 * Prepaid mode's shared shapes. Ledger amounts are **micros**: 1/10000 of the currency's minor
 * unit (for usd a millionth of a dollar: 10000 micros = 1¢), so a spell may cost less than a cent.
 */
export const MICROS_PER_MINOR_UNIT = 10_000;

const ZMicros = z.number().int().meta({ description: "micros: 1/10000 of the currency's minor unit" });

export const ZLedgerEntryKind = z.enum(["top_up", "reserve", "debit", "release", "refund", "adjustment"]);

export const ZLedgerEntry = z.object({
  id: z.string(),
  kind: ZLedgerEntryKind,
  currency: ZCurrency,
  amount: ZMicros.meta({
    description: "signed micros: + top_up/release, − reserve, 0 debit (the reserve made final)",
  }),
  balanceAfter: ZMicros,
  executionId: z.string().nullable(),
  paymentIntentId: z.string().nullable(),
  description: z.string().nullable(),
  createdAt: z.string().meta({ description: "ISO 8601" }),
});
export type LedgerEntryView = z.infer<typeof ZLedgerEntry>;

export const ZSpendWindow = z.object({
  /** The cap in force: the lower of the admin's and the user's; null is none. */
  limit: ZMicros.nullable(),
  adminLimit: ZMicros.nullable(),
  userLimit: ZMicros.nullable(),
  spent: ZMicros,
  resetsAt: z.string().meta({ description: "ISO 8601, the next UTC day or month" }),
});

export const ZAutoReload = z.object({
  threshold: ZMicros.min(0),
  amount: z.number().int().min(1).meta({ description: "minor units charged to the saved card per reload" }),
  monthlyCap: z.number().int().min(1).nullable().meta({ description: "minor units per UTC month" }),
});

export const ZPrepaidAccount = z.object({
  currency: ZCurrency,
  balance: ZMicros,
  spendLimits: z.object({ daily: ZSpendWindow, monthly: ZSpendWindow }),
  autoReload: ZAutoReload.nullable(),
  autoReloadState: z.object({
    monthReloaded: z.number().int().meta({ description: "minor units reloaded this UTC month" }),
    lastFailure: z
      .object({
        at: z.string().meta({ description: "ISO 8601" }),
        code: z.string().meta({ description: "e.g. BILLING_FAILED:generic_decline" }),
      })
      .nullable()
      .meta({ description: "the last reload that credited nothing; cleared by the next that does" }),
  }),
});
export type PrepaidAccountView = z.infer<typeof ZPrepaidAccount>;

export const ZBalanceOutput = z.object({
  ok: z.literal(true),
  account: ZPrepaidAccount,
  recent: z.array(ZLedgerEntry),
});
export type BalanceOutput = z.infer<typeof ZBalanceOutput>;

export const ZCurrencyInput = ZCurrency.optional().meta({
  description: "default: the server's prepaid currency",
});

/** A cap in micros, or null to remove it; left out: unchanged. */
export const ZLimitValue = ZMicros.min(0).nullable().optional();
