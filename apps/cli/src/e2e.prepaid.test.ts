import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "./context.ts";
import { type E2E, startE2E } from "./testutil/e2e.ts";

/**
 * Prepaid mode as a person meets it: the real server (`apps/server/src/main.ts`, SPELL_BILLING_MODE=
 * prepaid on the LOCAL TEST provider, whose simulated Stripe takes the top-ups and refunds) in a
 * child process and the real `bin/spell.js`. Prepaid mode needs PostgreSQL (DATABASE_URL).
 */

const withPostgres = process.env.DATABASE_URL !== undefined;
const KEY_LINE = /^idempotency key: (cli-refund-[0-9a-f-]{36})$/m;

let e2e: E2E;
const spellCli = (args: string[]) => e2e.spell(args);

async function login(sub: string, extra: string[] = []): Promise<void> {
  const res = await spellCli(["login", "--dev", "--sub", sub, ...extra]);
  expect(res.code, res.stderr).toBe(EXIT.ok);
}

/** Logs in as `sub`, saves the LOCAL TEST card and tops up 100¢: the top-up's PaymentIntent. */
async function fundedAs(sub: string): Promise<string> {
  await login(sub);
  const card = await spellCli(["billing", "test-card", "pm_card_visa"]);
  expect(card.code, card.stderr).toBe(EXIT.ok);
  const topUp = await spellCli(["billing", "topup", "100", "--json"]);
  expect(topUp.code, topUp.stderr).toBe(EXIT.ok);
  return (JSON.parse(topUp.stdout) as { paymentIntentId: string }).paymentIntentId;
}

beforeAll(async () => {
  if (withPostgres)
    e2e = await startE2E("spell-e2e-prepaid-", { serverEnv: { SPELL_BILLING_MODE: "prepaid" } });
}, 120_000);

afterAll(() => e2e?.close(), 30_000);

describe.runIf(withPostgres)("spell billing refund against a prepaid server", () => {
  const user = `e2e-prepaid-${randomBytes(4).toString("hex")}`;

  it("tops up, spends, refunds the unspent part once (a retry with the key changes nothing), then refuses more", async () => {
    const paymentIntentId = await fundedAs(user);
    const paid = await spellCli(["exec", "echo-prepaid@v1", "--input", '{"hi":1}']);
    expect(paid.code, paid.stderr).toBe(EXIT.ok);

    // 100¢ less 0.05¢ spent: 99 whole cents are refundable.
    const refund = await spellCli(["billing", "refund", paymentIntentId, "--json"]);
    expect(refund.code, refund.stderr).toBe(EXIT.ok);
    const key = KEY_LINE.exec(refund.stderr)?.[1];
    expect(key, refund.stderr).toBeDefined();
    const answer = JSON.parse(refund.stdout);
    expect(answer).toMatchObject({
      ok: true,
      paymentIntentId,
      status: "succeeded",
      amount: 99,
      currency: "usd",
      userId: user,
      balance: 9_500,
    });

    const retry = await spellCli(["billing", "refund", paymentIntentId, "--idempotency-key", key ?? ""]);
    expect(retry.code, retry.stderr).toBe(EXIT.ok);
    expect(retry.stderr).toBe("");
    expect(retry.stdout).toBe(
      `refunded $0.99 of ${paymentIntentId} to the card (${answer.refundId}); balance usd 0.0095 (${user})\n`,
    );
    const history = JSON.parse((await spellCli(["billing", "history", "--json"])).stdout);
    expect(history.filter((entry: { kind: string }) => entry.kind === "refund")).toEqual([
      expect.objectContaining({ amount: -990_000, paymentIntentId }),
    ]);

    const more = await spellCli(["billing", "refund", paymentIntentId, "--amount", "1"]);
    expect(more.code).toBe(EXIT.usage);
    expect(more.stderr).toContain("error VALIDATION_ERROR: More than the unspent part of this top-up");
    expect(more.stderr).toContain("hint: at most 0 minor units of this top-up are refundable now");
  }, 90_000);

  it("another user's top-up is NOT_FOUND (exit 1, JSON with --json); an admin refunds part of it", async () => {
    const owner = `${user}-owner`;
    const paymentIntentId = await fundedAs(owner);
    await login(`${user}-other`);
    const stranger = await spellCli(["billing", "refund", paymentIntentId, "-k", "k-1", "--json"]);
    expect(stranger.code).toBe(EXIT.other);
    expect(JSON.parse(stranger.stdout)).toMatchObject({
      ok: false,
      error: { code: "NOT_FOUND", details: { paymentIntentId, idempotencyKey: "k-1" } },
    });

    await login(`${user}-admin`, ["--admin"]);
    const byAdmin = await spellCli(["billing", "refund", paymentIntentId, "--amount", "40", "--json"]);
    expect(byAdmin.code, byAdmin.stdout + byAdmin.stderr).toBe(EXIT.ok);
    expect(JSON.parse(byAdmin.stdout)).toMatchObject({ amount: 40, userId: owner, balance: 600_000 });
  }, 90_000);
});
