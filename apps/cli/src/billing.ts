import { randomUUID } from "node:crypto";
import { ERROR_CODES, type ErrorCode } from "@spell/contracts";
import {
  type BalanceResult,
  type ExecuteResult,
  type RefundTopUpResult,
  type SpellClient,
  SpellError,
} from "@spell/sdk";
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import { CliError } from "./context.ts";
import { formatPrice, pretty, table } from "./format.ts";

/**
 * Stripe's test payment methods the LOCAL TEST provider (the quick start's simulated Stripe)
 * understands, with what each does.
 */
export const TEST_CARDS = {
  pm_card_visa: "the payment succeeds",
  pm_card_chargeDeclined: "the payment is declined (generic_decline)",
  pm_card_chargeDeclinedInsufficientFunds: "the payment is declined (insufficient_funds)",
  pm_card_authenticationRequired: "the payment needs 3-D Secure: `spell billing authenticate`, then confirm",
} as const;

const KNOWN_CODES = new Set<string>(ERROR_CODES);

interface Connection {
  apiUrl: string;
  token: string | undefined;
}

/**
 * The LOCAL TEST provider's two routes are plain REST (`/api/billing/local/*`), not tRPC
 * procedures: they exist only on a quick-start server. Errors come back as the API's error body.
 */
async function postRest(
  ctx: CliContext,
  connection: Connection,
  path: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  const url = `${connection.apiUrl.replace(/\/+$/, "")}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(connection.token ? { authorization: `Bearer ${connection.token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  } catch (error) {
    const reason =
      error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : "";
    throw new SpellError("SERVICE_UNAVAILABLE", `Cannot reach the Spell API at ${connection.apiUrl}`, {
      status: 0,
      details: { network: true, reason },
    });
  }
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    json = undefined;
  }
  const record = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  if (response.ok && record.ok === true) return record;
  const error = (record.error ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
  const code: ErrorCode =
    typeof error.code === "string" && KNOWN_CODES.has(error.code)
      ? (error.code as ErrorCode)
      : "INTERNAL_ERROR";
  throw new SpellError(code, typeof error.message === "string" ? error.message : `HTTP ${response.status}`, {
    status: response.status,
    details:
      typeof error.details === "object" && error.details !== null
        ? (error.details as Record<string, unknown>)
        : {},
  });
}

/** Prints an execute result as `spell exec` does: output on stdout, the summary on stderr. */
export function printResult(ctx: CliContext, result: ExecuteResult, json: boolean | undefined): void {
  if (json) {
    ctx.stdout(`${JSON.stringify(result)}\n`);
    return;
  }
  ctx.stdout(pretty(result.output));
  const charge = result.billing.charged
    ? `charged ${formatPrice(result.billing)} (${result.billing.billingRecordId ?? "no record"})`
    : "not charged";
  ctx.stderr(
    `${result.spell.slug} · ${result.spell.runtime} · ${result.durationMs} ms · ${charge} · ${result.executionId}\n`,
  );
}

/** `spell billing …`: save a card, manage it, finish a payment that needed the customer. */
export function addBillingCommands(
  program: Command,
  ctx: CliContext,
  deps: {
    client(cmd: Command): Promise<SpellClient>;
    connection(cmd: Command): Promise<Connection>;
  },
): void {
  const out = (text: string) => ctx.stdout(text);
  const err = (text: string) => ctx.stderr(text);
  const billing = program.command("billing").description("Payment method and payments for priced spells");

  billing
    .command("balance")
    .description("Prepaid mode: your balance, spend caps and latest ledger entries")
    .option("--currency <code>", "e.g. usd (default: the server's prepaid currency)")
    .option("--json", "print the raw JSON result")
    .action(async (opts: { currency?: string; json?: boolean }, cmd: Command) => {
      const result = await (await deps.client(cmd)).billing.balance(opts.currency);
      if (opts.json) return out(`${JSON.stringify(result)}\n`);
      out(`${describeAccount(result.account).join("\n")}\n`);
    });

  billing
    .command("topup")
    .description("Prepaid mode: charge your saved card and credit the balance")
    .argument("<amount>", "minor units (cents for usd), at least the card minimum (50 for usd)")
    .option("--currency <code>", "e.g. usd (default: the server's prepaid currency)")
    .option(
      "-k, --idempotency-key <key>",
      "retry safely: the same key never charges twice (default: a new one)",
    )
    .option("--json", "print the raw JSON result")
    .action(
      async (
        amount: string,
        opts: { currency?: string; idempotencyKey?: string; json?: boolean },
        cmd: Command,
      ) => {
        const cents = Number(amount);
        if (!Number.isInteger(cents) || cents < 1) {
          throw new CliError("USAGE", `amount must be a positive integer of minor units, got "${amount}"`);
        }
        const result = await (await deps.client(cmd)).billing.topUp({
          amount: cents,
          idempotencyKey: opts.idempotencyKey ?? `cli-${randomUUID()}`,
          ...(opts.currency ? { currency: opts.currency } : {}),
        });
        if (opts.json) return out(`${JSON.stringify(result)}\n`);
        const currency = opts.currency ?? "usd";
        out(
          `${result.status}: balance ${formatMicros(result.balance, currency)} (${result.paymentIntentId})\n`,
        );
        if (!result.credited && result.status === "succeeded") err("already credited before (same key)\n");
      },
    );

  billing
    .command("refund")
    .description(
      "Prepaid mode: give a top-up's unspent part back on the card (yours, or anyone's as an admin)",
    )
    .argument("<paymentIntentId>", "the top-up's PaymentIntent, e.g. pi_… (see `spell billing history`)")
    .option("--amount <n>", "minor units (cents for usd) to give back (default: all that is unspent)")
    .option(
      "-k, --idempotency-key <key>",
      "retry safely: the same key never refunds twice (default: a new one, printed)",
    )
    .option("--json", "print the raw JSON result")
    .action(
      async (
        paymentIntentId: string,
        opts: { amount?: string; idempotencyKey?: string; json?: boolean },
        cmd: Command,
      ) => {
        const amount = opts.amount === undefined ? undefined : Number(opts.amount);
        if (amount !== undefined && (!Number.isInteger(amount) || amount < 1)) {
          throw new CliError(
            "USAGE",
            `--amount must be a positive integer of minor units, got "${opts.amount}"`,
          );
        }
        const idempotencyKey = opts.idempotencyKey ?? `cli-refund-${randomUUID()}`;
        // Printed before the call: a refund that timed out or met a 503 is finished by the same key.
        if (opts.idempotencyKey === undefined) err(`idempotency key: ${idempotencyKey}\n`);
        const client = await deps.client(cmd);
        let result: RefundTopUpResult;
        try {
          result = await client.billing.refundTopUp({
            paymentIntentId,
            idempotencyKey,
            ...(amount === undefined ? {} : { amount }),
          });
        } catch (error) {
          throw withRetryKey(error, idempotencyKey);
        }
        if (opts.json) return out(`${JSON.stringify(result)}\n`);
        const refunded = formatPrice({ amount: result.amount, currency: result.currency });
        out(
          `${result.status === "succeeded" ? "refunded" : "refund pending:"} ${refunded} of ${result.paymentIntentId} to the card (${result.refundId}); balance ${formatMicros(result.balance, result.currency)} (${result.userId})\n`,
        );
      },
    );

  billing
    .command("history")
    .description("Prepaid mode: your ledger entries, newest first")
    .option("-n, --limit <n>", "how many (default 50)")
    .option("--json", "print the raw JSON result")
    .action(async (opts: { limit?: string; json?: boolean }, cmd: Command) => {
      const limit = opts.limit === undefined ? undefined : Number(opts.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
        throw new CliError("USAGE", `--limit must be a positive integer, got "${opts.limit}"`);
      }
      const { entries } = await (await deps.client(cmd)).billing.history(limit);
      if (opts.json) return out(`${JSON.stringify(entries)}\n`);
      if (entries.length === 0) return err("no ledger entries\n");
      out(
        table(
          entries.map((entry) => [
            entry.createdAt,
            entry.kind,
            formatMicros(entry.amount, entry.currency),
            `→ ${formatMicros(entry.balanceAfter, entry.currency)}`,
            entry.description ?? entry.paymentIntentId ?? "",
          ]),
        ),
      );
    });

  const returnUrl = async (cmd: Command, status: "success" | "cancel") =>
    `${(await deps.connection(cmd)).apiUrl.replace(/\/+$/, "")}/billing/return?status=${status}`;

  billing
    .command("checkout")
    .description("Print a URL where you save a card for priced spells (Stripe Checkout)")
    .option("--success-url <url>", "where to go after saving (default: the API's /billing/return page)")
    .option("--cancel-url <url>", "where to go on cancel (default: the API's /billing/return page)")
    .action(async (opts: { successUrl?: string; cancelUrl?: string }, cmd: Command) => {
      const { url } = await (await deps.client(cmd)).billing.checkoutUrl({
        successUrl: opts.successUrl ?? (await returnUrl(cmd, "success")),
        cancelUrl: opts.cancelUrl ?? (await returnUrl(cmd, "cancel")),
      });
      out(`${url}\n`);
      err("open this URL in a browser to save a card; priced spells are charged to it\n");
    });

  billing
    .command("portal")
    .description("Print a URL where you manage your saved cards (Stripe Billing Portal)")
    .option("--return-url <url>", "where to go afterwards (default: the API's /billing/return page)")
    .action(async (opts: { returnUrl?: string }, cmd: Command) => {
      const { url } = await (await deps.client(cmd)).billing.portalUrl({
        returnUrl: opts.returnUrl ?? (await returnUrl(cmd, "success")),
      });
      out(`${url}\n`);
    });

  billing
    .command("confirm")
    .description("Finish an execution whose payment needed your action (3-D Secure), once")
    .argument("<paymentIntentId>", "from the PAYMENT_REQUIRES_ACTION error, e.g. pi_…")
    .option("--json", "print the raw JSON result")
    .action(async (paymentIntentId: string, opts: { json?: boolean }, cmd: Command) => {
      const result = await (await deps.client(cmd)).billing.confirmIntent(paymentIntentId);
      printResult(ctx, result, opts.json);
    });

  billing
    .command("test-card")
    .description("LOCAL TEST payment provider only (quick start): save one of Stripe's test cards")
    .argument("<paymentMethod>", Object.keys(TEST_CARDS).join(" | "))
    .action(async (paymentMethod: string, _opts: unknown, cmd: Command) => {
      if (!Object.hasOwn(TEST_CARDS, paymentMethod)) {
        throw new CliError(
          "USAGE",
          `unknown test card "${paymentMethod}": use ${Object.keys(TEST_CARDS).join(", ")}`,
        );
      }
      await postRest(ctx, await deps.connection(cmd), "/api/billing/local/attach", { paymentMethod });
      out(
        `saved ${paymentMethod} with the LOCAL TEST payment provider (no real money): ${TEST_CARDS[paymentMethod as keyof typeof TEST_CARDS]}\n`,
      );
    });

  billing
    .command("authenticate")
    .description("LOCAL TEST payment provider only: stand in for the 3-D Secure step of a payment")
    .argument("<paymentIntentId>")
    .action(async (paymentIntentId: string, _opts: unknown, cmd: Command) => {
      await postRest(ctx, await deps.connection(cmd), "/api/billing/local/authenticate", { paymentIntentId });
      out(
        `authenticated ${paymentIntentId} (LOCAL TEST provider); now run: spell billing confirm ${paymentIntentId}\n`,
      );
    });
}

/**
 * The refund's key in the error's details (so `--json` shows it too): the hint then names the
 * command that retries without refunding twice.
 */
function withRetryKey(error: unknown, idempotencyKey: string): unknown {
  if (!(error instanceof SpellError)) return error;
  return new SpellError(error.code, error.message, {
    status: error.status,
    details: { ...error.details, idempotencyKey },
    cause: error,
  });
}

/** Micros (1/10000 of the minor unit) as the currency's major unit: `1234567` usd → `usd 1.234567`. */
export function formatMicros(micros: number, currency: string): string {
  const sign = micros < 0 ? "-" : "";
  const major = Math.abs(micros) / 1_000_000;
  const text = major.toFixed(6).replace(/0{1,4}$/, "");
  return `${currency} ${sign}${text}`;
}

/** The balance and caps, one line each (`spell billing balance`, and `spell me` in prepaid mode). */
export function describeAccount(account: BalanceResult["account"]): string[] {
  const cap = (window: BalanceResult["account"]["spendLimits"]["daily"]) =>
    window.limit === null
      ? `no cap (spent ${formatMicros(window.spent, account.currency)})`
      : `${formatMicros(window.spent, account.currency)} of ${formatMicros(window.limit, account.currency)}, resets ${window.resetsAt}`;
  return [
    `balance   ${formatMicros(account.balance, account.currency)}`,
    `daily     ${cap(account.spendLimits.daily)}`,
    `monthly   ${cap(account.spendLimits.monthly)}`,
    `reload    ${
      account.autoReload
        ? `below ${formatMicros(account.autoReload.threshold, account.currency)}, ${formatPrice({ amount: account.autoReload.amount, currency: account.currency })}`
        : "off"
    }`,
  ];
}
