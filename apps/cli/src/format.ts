import type { ErrorCode } from "@spell/contracts";
import { isSpellError } from "@spell/sdk";
import { type Paint, PLAIN_PAINT } from "./color.ts";
import { CliError, EXIT, type ExitCode } from "./context.ts";

const EXIT_BY_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  VALIDATION_ERROR: EXIT.usage,
  MALFORMED_JSON: EXIT.usage,
  UNAUTHORIZED: EXIT.auth,
  FORBIDDEN: EXIT.auth,
  USER_BANNED: EXIT.auth,
  VISIBILITY_DENIED: EXIT.auth,
  PAYMENT_METHOD_REQUIRED: EXIT.payment,
  BILLING_FAILED: EXIT.payment,
  PAYMENT_REQUIRES_ACTION: EXIT.payment,
  BILLING_NOT_CONFIGURED: EXIT.payment,
  INSUFFICIENT_BALANCE: EXIT.payment,
  SPEND_LIMIT_REACHED: EXIT.payment,
};

export function exitCodeFor(code: ErrorCode): ExitCode {
  return EXIT_BY_CODE[code] ?? EXIT.other;
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: "log in with `spell login --token <JWT>` (or `spell login --dev` against a local server)",
  PAYMENT_METHOD_REQUIRED:
    "save a card first: `spell billing checkout` prints the URL (local quick start: `spell billing test-card pm_card_visa`)",
};

/** Hints that need the error's details: the payment to finish is named in them. */
function hintFor(code: ErrorCode, details: Record<string, unknown>): string | undefined {
  if (code === "PAYMENT_REQUIRES_ACTION" && typeof details.paymentIntentId === "string") {
    const id = details.paymentIntentId;
    // Only the LOCAL TEST provider's hint names its authenticate route.
    const local = typeof details.hint === "string" && details.hint.includes("/billing/local/");
    return local
      ? `payment ${id} needs 3-D Secure (LOCAL TEST provider): spell billing authenticate ${id} && spell billing confirm ${id}`
      : `payment ${id} needs 3-D Secure: complete it with the clientSecret in Stripe.js, then: spell billing confirm ${id}`;
  }
  const key = details.idempotencyKey;
  if (typeof key === "string") {
    // A refund's failures (`spell billing refund` puts its key in the details).
    if (code === "SERVICE_UNAVAILABLE" || details.retryable === true)
      return `retry with the same key, it never refunds twice: --idempotency-key ${key}`;
    if (code === "IDEMPOTENCY_CONFLICT" && typeof details.amount === "number")
      return `this key already refunded ${details.amount} minor units: retry with the same amount, or use a new key`;
  }
  if (code === "VALIDATION_ERROR" && details.reason === "exceeds_unspent") {
    return `at most ${String(details.refundable)} minor units of this top-up are refundable now (what is left of it, at most the balance)`;
  }
  return HINTS[code];
}

const MAX_DETAILS = 2000;

function compact(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > MAX_DETAILS ? `${text.slice(0, MAX_DETAILS)}…` : text;
}

interface Issue {
  path?: unknown;
  message?: unknown;
}

function issueLines(issues: unknown): string[] | undefined {
  if (!Array.isArray(issues)) return undefined;
  return issues.map((issue: Issue) => {
    const path = Array.isArray(issue.path) && issue.path.length > 0 ? issue.path.join(".") : "(root)";
    return `  ${path}: ${String(issue.message ?? compact(issue))}`;
  });
}

/** `error CODE: message`, then details compactly; returns the text and the exit code. */
export function describeError(
  error: unknown,
  paint: Paint = PLAIN_PAINT,
): { text: string; exitCode: ExitCode } {
  const heading = (code: string, message: string) => `${paint.red(`error ${code}`)}: ${message}`;
  if (error instanceof CliError)
    return { text: `${heading(error.code, error.message)}\n`, exitCode: error.exitCode };
  if (isSpellError(error)) {
    const lines = [heading(error.code, error.message)];
    const { issues, ...rest } = error.details;
    const issueText = issueLines(issues);
    if (issueText) lines.push(...issueText);
    const others = issueText ? rest : error.details;
    if (Object.keys(others).length > 0) lines.push(`  details: ${compact(others)}`);
    const hint =
      error.isNetworkError && error.status === 0
        ? "is the server running? start it with `pnpm start`, or point SPELL_API_URL / --api-url at it"
        : hintFor(error.code, error.details);
    if (hint) lines.push(paint.dim(`  hint: ${hint}`));
    return { text: `${lines.join("\n")}\n`, exitCode: exitCodeFor(error.code) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { text: `${heading("INTERNAL_ERROR", message)}\n`, exitCode: EXIT.other };
}

/**
 * The error as `--json` prints it, on standard output: the server's unified error body, so a
 * script reads one shape whether the failure was the CLI's or the server's.
 */
export function errorJson(error: unknown): {
  ok: false;
  error: { code: string; message: string; details: object };
} {
  if (error instanceof CliError)
    return { ok: false, error: { code: error.code, message: error.message, details: {} } };
  if (isSpellError(error)) {
    const details = error.isNetworkError ? { ...error.details, network: true } : error.details;
    return { ok: false, error: { code: error.code, message: error.message, details } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, error: { code: "INTERNAL_ERROR", message, details: {} } };
}

/** An amount in minor units, as people read it: `free`, `$0.50`, `¥50`. */
export function formatPrice(price: { amount: number; currency: string }): string {
  if (price.amount === 0) return "free";
  try {
    const format = new Intl.NumberFormat("en", { style: "currency", currency: price.currency.toUpperCase() });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(price.amount / 10 ** digits);
  } catch {
    return `${price.amount} ${price.currency} (minor units)`;
  }
}

export function pretty(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// Built from a string: a literal ESC in a regex literal reads as a mistake.
const ANSI_SEQUENCE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
/** Width on screen: colour codes take none. */
const visibleLength = (cell: string) => cell.replace(ANSI_SEQUENCE, "").length;

/** A plain text table: columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell));
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          i === row.length - 1
            ? cell
            : cell + " ".repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(cell))),
        )
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}
