import { ERROR_CODES, type ErrorCode } from "@spell/contracts";
import { type ExecuteResult, type SpellClient, SpellError } from "@spell/sdk";
import type { Command } from "commander";
import type { CliContext } from "./context.ts";
import { CliError } from "./context.ts";
import { formatPrice, pretty } from "./format.ts";

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
