import type { FakeStripeState } from "@spell/billing/testing";
import type { Database } from "@spell/db";

/**
 * The money invariants, checked against the two records that must agree: our database and the
 * fake Stripe's final state (its maps, not its answers). Called after every billing server test:
 *
 * - no run without an authorized payment: every priced execution that ran (succeeded, or failed in
 *   its runtime) has a PaymentIntent Stripe authorized, and the runs an upstream counted are not
 *   more than the authorizations;
 * - no capture for an answer that was not stored: every captured PaymentIntent belongs to an
 *   execution whose successful answer is stored; at most one capture per execution;
 * - `billing_records` equal Stripe: one record per PaymentIntent, same amount, the status Stripe's
 *   state maps to; no record without its PaymentIntent;
 * - settled: no settlement left pending, no stored answer still saying `pending`, and a stored
 *   answer says `charged` exactly when Stripe holds the money.
 *
 * Settlement is asynchronous (the worker, `finishLater`), so the check polls until every invariant
 * holds or `timeoutMs` passes, then throws with every problem it still sees.
 */
export interface ReconcileOptions {
  database: Database;
  stripe: FakeStripeState;
  /** Runs of priced spells an upstream observed (the counting upstream): at most one per authorization. */
  runs?: number;
  /**
   * Only requests settled before the check (no request in flight): release authorizations left
   * without a settlement now, as the worker's 15-minute orphan sweep would, then run the sweep.
   */
  releaseOrphans?: { sweep(): Promise<number> };
  timeoutMs?: number;
}

export interface ReconcileReport {
  intents: number;
  authorized: number;
  captured: number;
  released: number;
  records: number;
  pricedExecutions: number;
}

interface ExecutionRow {
  id: string;
  status: string;
  error_code: string | null;
  outcome: {
    kind?: string;
    billing?: { charged?: boolean; pending?: boolean; status?: string };
    error?: { details?: { billing?: { charged?: boolean; settlementPending?: boolean } } };
  } | null;
}

interface RecordRow {
  payment_intent_id: string;
  execution_id: string | null;
  status: string;
  amount: number;
}

type Intent = Record<string, unknown> & { id: string };

/** What a billing record must say for a PaymentIntent in this state (manual capture). */
function expectedRecordStatus(intent: Intent, refunded: boolean): string {
  const error = intent.last_payment_error as { code?: string; decline_code?: string } | null;
  switch (intent.status) {
    case "succeeded":
      return refunded ? "refunded" : "succeeded";
    case "requires_capture":
    case "processing":
      return "pending";
    case "canceled":
      return "canceled";
    case "requires_action":
    case "requires_confirmation":
      return "requires_action";
    default:
      return (error?.decline_code ?? error?.code) === "authentication_required"
        ? "requires_action"
        : "failed";
  }
}

/** Stripe authorized the money at some point: held, captured, or released after authorization. */
function wasAuthorized(intent: Intent): boolean {
  return (
    intent.status === "requires_capture" ||
    intent.status === "succeeded" ||
    (intent.status === "canceled" && intent.latest_charge !== null && intent.last_payment_error === null)
  );
}

async function problemsOf(
  options: ReconcileOptions,
): Promise<{ problems: string[]; report: ReconcileReport }> {
  const { database, stripe } = options;
  const prisma = database.prisma;
  const executions = await prisma.$queryRawUnsafe<ExecutionRow[]>(
    "SELECT id::text, status, error_code, outcome FROM executions WHERE amount > 0",
  );
  const records = await prisma.$queryRawUnsafe<RecordRow[]>(
    "SELECT payment_intent_id, execution_id::text, status, amount FROM billing_records",
  );
  const pendingSettlements = await prisma.$queryRawUnsafe<Array<{ payment_intent_id: string }>>(
    "SELECT payment_intent_id FROM settlements WHERE status = 'pending'",
  );
  const intents = [...stripe.paymentIntents.values()] as Intent[];
  const refunded = new Set([...stripe.refunds.values()].map((refund) => String(refund.payment_intent)));
  const recordOf = new Map(records.map((record) => [record.payment_intent_id, record]));
  const executionOf = new Map(executions.map((execution) => [execution.id, execution]));
  const problems: string[] = [];

  // billing_records equal Stripe.
  for (const intent of intents) {
    const record = recordOf.get(intent.id);
    const expected = expectedRecordStatus(intent, refunded.has(intent.id));
    if (!record) problems.push(`${intent.id} (${intent.status}) has no billing record`);
    else if (record.status !== expected)
      problems.push(
        `${intent.id}: record says ${record.status}, Stripe's state is ${intent.status} (${expected})`,
      );
    else if (record.amount !== intent.amount)
      problems.push(`${intent.id}: record amount ${record.amount}, Stripe's ${String(intent.amount)}`);
  }
  for (const record of records) {
    if (!stripe.paymentIntents.has(record.payment_intent_id))
      problems.push(`record for ${record.payment_intent_id} has no PaymentIntent at Stripe`);
  }

  // No capture for an answer that was not stored; never two captures for one execution.
  const capturesPerExecution = new Map<string, number>();
  for (const intent of intents) {
    if (intent.status !== "succeeded" || refunded.has(intent.id)) continue;
    const executionId = String((intent.metadata as Record<string, string>).execution_id);
    capturesPerExecution.set(executionId, (capturesPerExecution.get(executionId) ?? 0) + 1);
    const execution = executionOf.get(executionId);
    if (execution?.status !== "succeeded" || execution.outcome?.kind !== "succeeded")
      problems.push(
        `${intent.id} captured for execution ${executionId} whose answer is not stored (${execution?.status})`,
      );
  }
  for (const [executionId, count] of capturesPerExecution) {
    if (count > 1) problems.push(`execution ${executionId} captured ${count} times`);
  }

  // No run without an authorized payment.
  const authorized = intents.filter(wasAuthorized);
  const authorizedExecutions = new Set(
    authorized.map((intent) => String((intent.metadata as Record<string, string>).execution_id)),
  );
  for (const execution of executions) {
    const ran = execution.status === "succeeded" || (execution.error_code ?? "").startsWith("RUNTIME_");
    if (ran && !authorizedExecutions.has(execution.id))
      problems.push(`execution ${execution.id} ran (${execution.status}) without an authorized payment`);
  }
  if (options.runs !== undefined && options.runs > authorized.length)
    problems.push(`${options.runs} priced runs observed, only ${authorized.length} authorizations`);

  // Settled, and the stored answers tell the truth.
  for (const { payment_intent_id } of pendingSettlements)
    problems.push(`settlement of ${payment_intent_id} still pending`);
  for (const execution of executions) {
    const record = records.find((r) => r.execution_id === execution.id);
    const intent = record
      ? (stripe.paymentIntents.get(record.payment_intent_id) as Intent | undefined)
      : undefined;
    const heldByStripe = intent?.status === "succeeded" && !refunded.has(intent.id);
    const billing = execution.outcome?.kind === "succeeded" ? execution.outcome.billing : undefined;
    if (billing?.pending) problems.push(`execution ${execution.id}'s stored answer still says pending`);
    else if (billing && record && billing.charged !== heldByStripe)
      problems.push(
        `execution ${execution.id} says charged=${billing.charged}, Stripe holds the money: ${heldByStripe}`,
      );
    const failedBilling = execution.outcome?.error?.details?.billing;
    if (failedBilling?.charged === true && !heldByStripe)
      problems.push(`execution ${execution.id}'s error says charged, Stripe does not hold the money`);
    if (failedBilling && heldByStripe)
      problems.push(`execution ${execution.id} failed but Stripe holds its money`);
  }
  // An authorization still held for an execution that did not succeed is money locked for nothing.
  for (const intent of intents) {
    if (intent.status !== "requires_capture") continue;
    const executionId = String((intent.metadata as Record<string, string>).execution_id);
    problems.push(
      `${intent.id} still authorized (execution ${executionId}: ${executionOf.get(executionId)?.status})`,
    );
  }

  return {
    problems,
    report: {
      intents: intents.length,
      authorized: authorized.length,
      captured: [...capturesPerExecution.values()].reduce((sum, n) => sum + n, 0),
      released: intents.filter((intent) => intent.status === "canceled" && wasAuthorized(intent)).length,
      records: records.length,
      pricedExecutions: executions.length,
    },
  };
}

export async function reconcile(options: ReconcileOptions): Promise<ReconcileReport> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  if (options.releaseOrphans) {
    await options.database.billing.queueOrphanCancels(0);
    await options.releaseOrphans.sweep();
  }
  for (;;) {
    const { problems, report } = await problemsOf(options);
    if (problems.length === 0) return report;
    if (Date.now() >= deadline) {
      throw new Error(`reconciliation failed:\n  ${problems.join("\n  ")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The prepaid invariants, after a test (no request in flight): for every user and currency the
 * ledger entries sum to the balance and no balance is negative; every capped token's spend is the
 * sum of its charges not given back, never above its cap; a top-up is refunded at most what it
 * credited.
 */
export async function reconcileLedger(
  database: Database,
  /** Stripe's refunds (the simulation's state): each top-up's refunds there equal the ledger's own. */
  stripeRefunds?: Iterable<Record<string, unknown>>,
): Promise<void> {
  const problems: string[] = [];
  if (stripeRefunds) {
    const atStripe = new Map<string, number>();
    for (const refund of stripeRefunds) {
      if (refund.status !== "succeeded" && refund.status !== "pending") continue;
      const intent = String(refund.payment_intent);
      atStripe.set(intent, (atStripe.get(intent) ?? 0) + Number(refund.amount) * 10_000);
    }
    // Refunds this API asked for (`refund:` keys), less the ones given back because Stripe refused.
    const ours = await database.prisma.$queryRawUnsafe<
      Array<{ payment_intent_id: string; refunded: string }>
    >(
      `SELECT payment_intent_id, -sum(amount) AS refunded FROM ledger_entries
       WHERE refund_key LIKE 'refund:%' GROUP BY payment_intent_id`,
    );
    for (const row of ours) {
      const stripe = atStripe.get(row.payment_intent_id) ?? 0;
      if (stripe !== Number(row.refunded)) {
        problems.push(
          `top-up ${row.payment_intent_id}: ledger refunded ${row.refunded}, Stripe ${stripe} (micros)`,
        );
      }
      atStripe.delete(row.payment_intent_id);
    }
    for (const [intent, amount] of atStripe) {
      const topUp = await database.ledger.topUpOf(intent);
      if (topUp) problems.push(`top-up ${intent}: Stripe refunded ${amount} micros the ledger never took`);
    }
  }
  for (const row of await database.ledger.reconcile()) {
    problems.push(
      `ledger of ${row.userId} (${row.currency}): balance ${row.balance}, entries sum ${row.sum}`,
    );
  }
  const tokens = await database.prisma.$queryRawUnsafe<
    Array<{ token_key: string; spent: string; cap: string; held: string }>
  >(
    `SELECT t.token_key, t.spent, t.cap, COALESCE(sum(c.amount) FILTER (WHERE c.released_at IS NULL), 0) AS held
     FROM token_spend t LEFT JOIN token_spend_charges c USING (token_key)
     GROUP BY t.token_key, t.spent, t.cap
     HAVING t.spent <> COALESCE(sum(c.amount) FILTER (WHERE c.released_at IS NULL), 0) OR t.spent > t.cap`,
  );
  for (const token of tokens) {
    problems.push(`token ${token.token_key}: spent ${token.spent}, held ${token.held}, cap ${token.cap}`);
  }
  const overRefunded = await database.prisma.$queryRawUnsafe<
    Array<{ payment_intent_id: string; credited: string; refunded: string }>
  >(
    `SELECT t.payment_intent_id, t.amount AS credited, -COALESCE(sum(r.amount), 0) AS refunded
     FROM ledger_entries t
     LEFT JOIN ledger_entries r ON r.payment_intent_id = t.payment_intent_id
       AND r.kind IN ('refund', 'adjustment') AND r.refund_key IS NOT NULL
     WHERE t.kind = 'top_up'
     GROUP BY t.payment_intent_id, t.amount
     HAVING -COALESCE(sum(r.amount), 0) > t.amount`,
  );
  for (const row of overRefunded) {
    problems.push(`top-up ${row.payment_intent_id}: credited ${row.credited}, refunded ${row.refunded}`);
  }
  if (problems.length > 0) throw new Error(`ledger reconciliation failed:\n  ${problems.join("\n  ")}`);
}
