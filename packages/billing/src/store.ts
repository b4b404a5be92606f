export const BILLING_RECORD_STATUSES = [
  "pending",
  "requires_action",
  "succeeded",
  "failed",
  "refunded",
  "canceled",
] as const;

/**
 * `pending`: authorized (manual capture) and waiting for the run; `succeeded`: captured;
 * `canceled`: the authorization was released because the run failed; `refunded`: captured money
 * given back (a refund made in the Stripe dashboard, or the fallback when a cancel was impossible).
 */
export type BillingRecordStatus = (typeof BILLING_RECORD_STATUSES)[number];

export interface BillingRecord {
  id: string;
  userId: string;
  spellId: string;
  executionId: string | null;
  amount: number;
  currency: string;
  paymentIntentId: string;
  status: BillingRecordStatus;
  failureCode: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewBillingRecord = Pick<
  BillingRecord,
  "userId" | "spellId" | "executionId" | "amount" | "currency" | "paymentIntentId" | "status" | "failureCode"
>;

export type SettlementAction = "capture" | "cancel" | "refund";

/**
 * Pending payment work (`settlements`), written with the execution's outcome: `pending` until
 * Stripe confirms it (`done`, with the record status it confirmed in `result`).
 */
export interface Settlement {
  paymentIntentId: string;
  executionId: string;
  action: SettlementAction;
  status: "pending" | "done" | "failed";
  result: BillingRecordStatus | null;
  attempts: number;
  createdAt: Date;
}

/** What Stripe confirmed for a settlement, and what the caller is to be told from then on. */
export interface SettledResult {
  status: BillingRecordStatus;
  failureCode: string | null;
  /** Record statuses the record may move from to `status` (the transition table). */
  from: readonly BillingRecordStatus[];
  charge: "charged" | "not_charged";
  refunded: boolean;
}

export interface BillingCustomer {
  stripeCustomerId: string | null;
  defaultPaymentMethodId: string | null;
}

/**
 * Persistence the billing adapters need, over `users.stripe_customer_id`,
 * `users.default_payment_method_id`, `billing_records` and `stripe_events`. Every method is a
 * single statement so it stays correct with several API processes on one database.
 */
export interface BillingStore {
  /** The user's customer and default payment method; both null when the user row is missing. */
  getCustomer(userId: string): Promise<BillingCustomer>;
  /**
   * Stores `customerId` only if the user has none yet (creating the user row if missing) and
   * returns the customer id now stored: the winner when two processes raced.
   * SQL: `insert … on conflict (id) do update set stripe_customer_id =
   * coalesce(users.stripe_customer_id, excluded.stripe_customer_id) returning stripe_customer_id`.
   */
  setCustomerIdIfUnset(userId: string, customerId: string): Promise<string>;
  /** Sets the default payment method of the user owning `customerId`; false when no user has it. */
  setDefaultPaymentMethod(customerId: string, paymentMethodId: string): Promise<boolean>;
  /** Clears `paymentMethodId` wherever it is the default (the card was detached). */
  clearDefaultPaymentMethod(paymentMethodId: string): Promise<void>;
  /**
   * Inserts a record; when one already exists for the payment intent (a retried charge got the
   * same intent back through Stripe's idempotency), returns the existing row unchanged.
   */
  createRecord(record: NewBillingRecord): Promise<BillingRecord>;
  findRecordByPaymentIntent(paymentIntentId: string): Promise<BillingRecord | null>;
  /**
   * Compare-and-set: updates the status only while the row's status is one of `from`, so late or
   * reordered webhooks never move a record backwards. Null when no row matched.
   * SQL: `update … set status, failure_code, updated_at where payment_intent_id = $1 and status = any($from) returning *`.
   */
  updateRecordStatus(
    paymentIntentId: string,
    update: { status: BillingRecordStatus; failureCode?: string | null },
    from: readonly BillingRecordStatus[],
  ): Promise<BillingRecord | null>;
  getSettlement(paymentIntentId: string): Promise<Settlement | null>;
  /**
   * Stripe confirmed: in one statement the settlement becomes `done`, the billing record moves
   * (within the transition table) and the execution's stored outcome says the truth about the money.
   */
  completeSettlement(paymentIntentId: string, result: SettledResult): Promise<void>;
  /** Stripe could not confirm: counts the attempt and schedules the next one after `retryAfterMs`. */
  noteSettlementAttempt(paymentIntentId: string, error: string, retryAfterMs: number): Promise<void>;
  /** PaymentIntent ids of pending settlements whose next attempt is due. */
  dueSettlements(limit: number): Promise<string[]>;
  /**
   * Records a cancel for every authorization left without one (its process died, or the database
   * was unreachable when the outcome was to be stored) once older than `olderThanMs`; returns how
   * many were queued.
   */
  queueOrphanCancels(olderThanMs: number): Promise<number>;
  /** Remembers a webhook event id; false when it was already recorded (a replay). */
  recordEvent(eventId: string, type: string): Promise<boolean>;
  /** Forgets an event whose handling failed, so Stripe's redelivery is processed. */
  forgetEvent(eventId: string): Promise<void>;
}
