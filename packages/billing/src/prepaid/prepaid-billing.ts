import { AppError, type LedgerEntryView, type PrepaidAccountView, toAppError } from "@spell/contracts";
import type {
  Billing,
  Charge,
  ChargeRequest,
  NewExecution,
  PrepaidAccounts,
  SettleResult,
  UserRecord,
} from "@spell/engine";
import { assertChargeable } from "../minimum.ts";
import type { BillingStore } from "../store.ts";
import type { WebhookResult } from "../stripe-billing.ts";
import type { LedgerAccount, LedgerEntry, LedgerStore } from "./store.ts";
import type { TopUpIntent, TopUpProvider } from "./top-ups.ts";
import { MICROS_PER_MINOR_UNIT, nextUtcDay, nextUtcMonth, priceMicros, utcDay, utcMonth } from "./units.ts";

export interface PrepaidBillingOptions {
  ledger: LedgerStore;
  /** The saved card of each user (the Stripe adapter's customers). */
  customers: Pick<BillingStore, "getCustomer">;
  /**
   * The card side: Checkout, the portal, confirm-intent and the webhook stay the per-use adapter's
   * (Stripe or the local test provider); its `charge` and `settle` are never called in this mode.
   */
  cards: Billing & { handleWebhook?(rawBody: Buffer, signature: string | undefined): Promise<WebhookResult> };
  /** Where top-ups and auto-reloads are charged; null: top-ups answer BILLING_NOT_CONFIGURED. */
  topUps: TopUpProvider | null;
  /** The currency of balances when a request names none (default `usd`). */
  currency?: string;
  now?: () => Date;
  /** How often the sweep settles what a crashed process left (default 60 s; 0: never by itself). */
  sweepIntervalMs?: number;
  /** A reserve with no stored answer this old is released by the sweep (default 15 minutes). */
  orphanAfterMs?: number;
  /** Errors off the request path (sweep, auto-reload). */
  onError?: (error: unknown) => void;
}

export type PrepaidBilling = Billing & {
  prepaid: PrepaidAccounts;
  /** Credits a top-up Stripe confirmed (the synchronous answer or the webhook), at most once. */
  creditConfirmedTopUp(intent: TopUpIntent): Promise<{ credited: boolean; balance: number }>;
  /** The webhook: credits a confirmed top-up, then hands the event to the card adapter. */
  handleWebhook(rawBody: Buffer, signature: string | undefined): Promise<WebhookResult>;
  /** Settles pending or orphaned reserves now; returns how many. */
  sweep(): Promise<number>;
  /** Auto-reloads started by charges, for tests and shutdown. */
  idle(): Promise<void>;
  close(): Promise<void>;
};

const SETTLEMENT_PREFIX = "prepaid:";
/** Top-up errors after which Stripe certainly holds no successful charge. */
const DEFINITE_DECLINES = new Set(["BILLING_FAILED", "PAYMENT_REQUIRES_ACTION"]);

/**
 * The prepaid adapter of the engine's billing port. `charge` reserves the price in the Postgres
 * ledger (one statement: balance and caps checked, entry appended), `settle` debits on success and
 * releases on failure; nothing on the execute path talks to Stripe. Top-ups charge the saved card
 * and are credited once per PaymentIntent, by whichever of the answer and the webhook comes first.
 */
export function createPrepaidBilling(options: PrepaidBillingOptions): PrepaidBilling {
  const { ledger, cards, topUps } = options;
  const defaultCurrency = options.currency ?? "usd";
  const now = options.now ?? (() => new Date());
  const onError = options.onError ?? (() => {});
  const reloads = new Set<Promise<void>>();

  /** The reserve of `request` (one statement), and with `execution` its begin in the same one. */
  async function charge(request: ChargeRequest, execution?: NewExecution): Promise<Charge> {
    const { user, spell, price, executionId } = request;
    const micros = priceMicros(spell, price);
    const at = now();
    if (request.maxCost !== undefined && micros > request.maxCost * MICROS_PER_MINOR_UNIT) {
      throw new AppError("SPEND_LIMIT_REACHED", "The spell costs more than this call's maxCost", {
        limit: "call",
        max: request.maxCost,
        price: micros / MICROS_PER_MINOR_UNIT,
        currency: price.currency,
        resetsAt: null,
      });
    }
    const reserve = {
      userId: user.id,
      currency: price.currency,
      amount: micros,
      executionId,
      description: spell.slug,
      day: utcDay(at),
      month: utcMonth(at),
    };
    const result = execution
      ? await ledger.beginReserve({ ...reserve, execution })
      : await ledger.reserve(reserve);
    if (result.kind === "insufficient") {
      startAutoReload(user.id, price.currency);
      throw new AppError("INSUFFICIENT_BALANCE", "The prepaid balance does not cover this spell", {
        currency: price.currency,
        price: micros,
        balance: result.balance,
        missing: micros - result.balance,
        unit: "micros",
        hint: "POST /api/billing/top-up",
      });
    }
    if (result.kind === "settled") {
      throw new AppError(
        "BILLING_FAILED",
        "This execution's reserve was given back after its first attempt stopped; retry with a new idempotency key",
        { reason: "reserve_settled", executionId },
      );
    }
    if (result.kind === "limit") {
      throw new AppError(
        "SPEND_LIMIT_REACHED",
        `The ${result.window === "day" ? "daily" : "monthly"} spend cap is reached`,
        {
          limit: result.window,
          max: result.limit,
          spent: result.spent,
          price: micros,
          currency: price.currency,
          unit: "micros",
          resetsAt: (result.window === "day" ? nextUtcDay(at) : nextUtcMonth(at)).toISOString(),
        },
      );
    }
    if (result.autoReloadDue) startAutoReload(user.id, price.currency);
    return {
      billingRecordId: result.entry.id,
      paymentIntentId: `${SETTLEMENT_PREFIX}${result.entry.id}`,
      amount: price.amount,
      currency: price.currency,
      // The execution log's finish debits or releases it with the stored outcome (one write).
      ledgerReserve: true,
    };
  }

  async function settle(done: Charge, outcome: "succeeded" | "failed"): Promise<SettleResult> {
    if (done.settledByFinish) return settled(outcome);
    try {
      const result = await ledger.settleReserve(
        done.billingRecordId,
        outcome === "succeeded" ? "debit" : "release",
        done.paymentIntentId,
      );
      if (result === "already") {
        // Settled before (a finish whose reply was lost, the sweep): what the ledger holds is the
        // answer, not what this call asked for.
        const kind = await ledger.settlementOf(done.billingRecordId);
        if (kind) return settled(kind === "debit" ? "succeeded" : "failed");
      }
    } catch {
      // The stored settlement order stays pending; the sweep carries it out.
      return { status: "pending", refunded: false };
    }
    return settled(outcome);
  }

  const settled = (outcome: "succeeded" | "failed"): SettleResult =>
    outcome === "succeeded"
      ? { status: "charged", refunded: false }
      : { status: "not_charged", refunded: true };

  function creditConfirmedTopUp(intent: TopUpIntent) {
    if (intent.status !== "succeeded" || intent.userId === null) {
      return Promise.resolve({ credited: false, balance: 0 });
    }
    return ledger.creditTopUp({
      userId: intent.userId,
      currency: intent.currency,
      amount: intent.amount * MICROS_PER_MINOR_UNIT,
      paymentIntentId: intent.id,
      description: "top-up",
    });
  }

  async function chargeCard(
    user: UserRecord | string,
    amount: number,
    currency: string,
    key: string,
    description: string,
    progress: { sent: boolean } = { sent: false },
  ) {
    if (!topUps) {
      throw new AppError("BILLING_NOT_CONFIGURED", "Top-ups need a payment provider on this server", {});
    }
    const userId = typeof user === "string" ? user : user.id;
    assertChargeable({ amount, currency });
    const { stripeCustomerId, defaultPaymentMethodId } = await options.customers.getCustomer(userId);
    if (!stripeCustomerId || !defaultPaymentMethodId) {
      throw new AppError("PAYMENT_METHOD_REQUIRED", "Save a payment method before topping up", {
        hint: "POST /api/billing/checkout-url",
      });
    }
    progress.sent = true;
    const intent = await topUps.charge({
      userId,
      customerId: stripeCustomerId,
      paymentMethodId: defaultPaymentMethodId,
      amount,
      currency,
      idempotencyKey: key,
      description,
    });
    const credit = await creditConfirmedTopUp(intent);
    return { intent, credit };
  }

  function startAutoReload(userId: string, currency: string): void {
    if (!topUps) return;
    const work = (async () => {
      const claim = await ledger.claimAutoReload(userId, currency, utcMonth(now()));
      if (!claim) return;
      let failure: { code: string; amount: number } | null = null;
      const progress = { sent: false };
      try {
        const { intent } = await chargeCard(
          userId,
          claim.amount,
          currency,
          `auto-reload:${userId}:${currency}:${claim.key}`,
          "auto-reload",
          progress,
        );
        // Off session nobody can authenticate: anything but money on its way is a failed reload.
        if (intent.status === "failed" || intent.status === "requires_action") {
          failure = { code: `payment_${intent.status}`, amount: claim.amount };
        }
      } catch (error) {
        const appError = toAppError(error);
        const decline = appError.details.declineCode;
        // The month's total is given back only when no money can have moved: refused before Stripe
        // was asked, or a definite decline. A lost answer (or a credit failing after Stripe took the
        // money) keeps it, so the next claim's new PaymentIntent cannot charge past the cap.
        const nothingCharged = !progress.sent || DEFINITE_DECLINES.has(appError.code);
        failure = {
          code: typeof decline === "string" ? `${appError.code}:${decline}` : appError.code,
          amount: nothingCharged ? claim.amount : 0,
        };
        throw error;
      } finally {
        await ledger.finishAutoReload(userId, currency, failure);
      }
    })()
      .catch(onError)
      .finally(() => reloads.delete(work));
    reloads.add(work);
  }

  function accountView(account: LedgerAccount): PrepaidAccountView {
    const at = now();
    const window = (limits: "daily" | "monthly", spent: number, resetsAt: Date) => {
      const admin = account.adminLimits[limits];
      const own = account.userLimits[limits];
      const caps = [admin, own].filter((value): value is number => value !== null);
      return {
        limit: caps.length > 0 ? Math.min(...caps) : null,
        adminLimit: admin,
        userLimit: own,
        spent,
        resetsAt: resetsAt.toISOString(),
      };
    };
    return {
      currency: account.currency,
      balance: account.balance,
      spendLimits: {
        daily: window("daily", account.daySpent, nextUtcDay(at)),
        monthly: window("monthly", account.monthSpent, nextUtcMonth(at)),
      },
      autoReload: account.autoReload,
      autoReloadState: {
        monthReloaded: account.autoReloadMonthTotal,
        lastFailure: account.autoReloadFailure
          ? { at: account.autoReloadFailure.at.toISOString(), code: account.autoReloadFailure.code }
          : null,
      },
    };
  }

  const entryView = (entry: LedgerEntry): LedgerEntryView => ({
    id: entry.id,
    kind: entry.kind,
    currency: entry.currency,
    amount: entry.amount,
    balanceAfter: entry.balanceAfter,
    executionId: entry.executionId,
    paymentIntentId: entry.kind === "top_up" || entry.kind === "refund" ? entry.paymentIntentId : null,
    description: entry.description,
    createdAt: entry.createdAt.toISOString(),
  });

  const prepaid: PrepaidAccounts = {
    async account(userId, currency = defaultCurrency) {
      const at = now();
      return accountView(await ledger.account(userId, currency, utcDay(at), utcMonth(at)));
    },
    async history(userId, limit) {
      return (await ledger.entries(userId, limit)).map(entryView);
    },
    async setLimits(userId, by, change) {
      await ledger.setLimits(userId, change.currency ?? defaultCurrency, by, {
        ...(change.daily !== undefined ? { daily: change.daily } : {}),
        ...(change.monthly !== undefined ? { monthly: change.monthly } : {}),
      });
    },
    async setAutoReload(userId, currency = defaultCurrency, settings) {
      if (settings) assertChargeable({ amount: settings.amount, currency });
      await ledger.setAutoReload(userId, currency, settings);
    },
    refundTopUp: (request) => refundTopUp(request),
    async topUp(user, request) {
      const currency = request.currency ?? defaultCurrency;
      const { intent, credit } = await chargeCard(
        user,
        request.amount,
        currency,
        `topup:${user.id}:${request.idempotencyKey}`,
        "Spell prepaid top-up",
      );
      if (intent.status === "failed") {
        throw new AppError("BILLING_FAILED", "The top-up was declined", { paymentIntentId: intent.id });
      }
      const balance = credit.credited ? credit.balance : (await prepaid.account(user.id, currency)).balance;
      return {
        paymentIntentId: intent.id,
        status: intent.status,
        credited: credit.credited,
        balance,
        ...(intent.status === "requires_action" ? { clientSecret: intent.clientSecret } : {}),
      };
    },
  };

  /**
   * Ledger first, then Stripe: the refund entry takes the money out of the balance (so it cannot be
   * spent meanwhile), then the card gets it back with the same key as Stripe's idempotency key. A
   * refusal from Stripe gives the balance back (one adjustment); Stripe out of reach leaves the
   * entry, and a retry with the same key finishes it.
   */
  async function refundTopUp(
    request: Parameters<PrepaidAccounts["refundTopUp"]>[0],
  ): ReturnType<PrepaidAccounts["refundTopUp"]> {
    if (!topUps) {
      throw new AppError("BILLING_NOT_CONFIGURED", "Refunds need a payment provider on this server", {});
    }
    const notFound = () =>
      new AppError("NOT_FOUND", "No such top-up", { paymentIntentId: request.paymentIntentId });
    const topUp = await ledger.topUpOf(request.paymentIntentId);
    if (!topUp || (!request.by.admin && topUp.userId !== request.by.userId)) throw notFound();
    const key = `refund:${request.paymentIntentId}:${request.idempotencyKey}`;
    const reserved = await ledger.reserveRefund({
      paymentIntentId: request.paymentIntentId,
      key,
      amount: request.amount ?? null,
    });
    if (reserved.kind === "unknown") throw notFound();
    if (reserved.kind === "not_refundable") {
      throw new AppError("VALIDATION_ERROR", "More than the unspent part of this top-up", {
        field: "amount",
        reason: "exceeds_unspent",
        refundable: reserved.refundable,
        requested: request.amount ?? null,
        currency: reserved.topUp.currency,
      });
    }
    if (request.amount !== undefined && request.amount !== reserved.amount) {
      throw new AppError("IDEMPOTENCY_CONFLICT", "This idempotency key was used for another refund", {
        amount: reserved.amount,
      });
    }
    if (reserved.compensated) {
      throw new AppError("BILLING_FAILED", "Stripe refused this refund", {
        paymentIntentId: topUp.paymentIntentId,
      });
    }
    try {
      const refund = await topUps.refund({
        paymentIntentId: topUp.paymentIntentId,
        amount: reserved.amount,
        idempotencyKey: key,
      });
      return {
        paymentIntentId: topUp.paymentIntentId,
        refundId: refund.id,
        status: refund.status,
        amount: reserved.amount,
        currency: topUp.currency,
        userId: topUp.userId,
        balance: reserved.balance,
      };
    } catch (thrown) {
      const error = toAppError(thrown);
      if (error.code === "BILLING_FAILED") await ledger.cancelRefund(key);
      else if (error.code === "SERVICE_UNAVAILABLE") error.details.retryable = true;
      throw error;
    }
  }

  let timer: NodeJS.Timeout | undefined;
  const orphanAfterMs = options.orphanAfterMs ?? 15 * 60_000;
  const sweep = () => ledger.sweep(orphanAfterMs);
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  if (sweepIntervalMs > 0) {
    timer = setInterval(() => void sweep().catch(onError), sweepIntervalMs);
    timer.unref();
  }

  return {
    quote: (spell) => ({ ...spell.price }),
    hasPaymentMethod: (user) => cards.hasPaymentMethod(user),
    charge: (request) => charge(request),
    // The begin and the reserve of a call without a key in one statement, committed asynchronously:
    // the finish (outcome and debit or release) is then the only durable write of the execute.
    chargeAtBegin: (request, execution) =>
      execution.idempotencyKey === null && execution.id === request.executionId
        ? charge(request, execution)
        : Promise.resolve(null),
    settle,
    createCheckoutUrl: (user, urls) => cards.createCheckoutUrl(user, urls),
    createPortalUrl: (user, urls) => cards.createPortalUrl(user, urls),
    resumePayment: (user, paymentIntentId) => cards.resumePayment(user, paymentIntentId),
    // Any price is chargeable from a balance: the point of this mode is spells below the card minimum.
    assertChargeable: () => {},
    prepaid,
    creditConfirmedTopUp,
    async handleWebhook(rawBody, signature) {
      const event = topUps?.webhookEvent?.(rawBody, signature) ?? null;
      if (event?.type === "succeeded") await creditConfirmedTopUp(event.intent);
      if (event?.type === "refunded") {
        // Only top-ups are in the ledger: a per-use charge's refund finds nothing here.
        const converged = await ledger.convergeRefund(event.paymentIntentId, event.amountRefunded);
        if (converged && converged.shortfall > 0) {
          onError(
            new Error(
              `refund of ${event.paymentIntentId} at Stripe exceeds the balance by ${converged.shortfall} micros`,
            ),
          );
        }
      }
      return cards.handleWebhook
        ? cards.handleWebhook(rawBody, signature)
        : { received: true as const, duplicate: false };
    },
    sweep,
    async idle() {
      while (reloads.size > 0) await Promise.all([...reloads]);
    },
    async close() {
      clearInterval(timer);
      await Promise.all([...reloads]);
    },
  };
}
