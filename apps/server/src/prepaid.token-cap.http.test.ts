import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, type Harness, USER_ISSUER } from "./testutil/harness.ts";
import { fundedUser, startLocalPrepaidHarness } from "./testutil/prepaid.ts";
import { reconcileLedger } from "./testutil/reconcile.ts";
import { pricedSpell } from "./testutil/spells.ts";

/** A user-issuer token carrying `claims` (e.g. `spell:max_spend`, `jti`). */
function tokenWith(sub: string, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(USER_ISSUER.issuer)
    .setAudience(AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(USER_ISSUER.secret));
}

/**
 * `spell:max_spend` end to end: the verifier reads the claim, execute passes it to the charge, the
 * billing counts it on every transport; a malformed claim refuses the token.
 */
describe.runIf(process.env.DATABASE_URL)("per-token spend cap over HTTP (prepaid)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startLocalPrepaidHarness([pricedSpell("cent@v1", 1)]);
  }, 60_000);
  afterAll(() => h?.close());
  afterEach(() => reconcileLedger(h.testDb.database));

  const funded = (cents: number) => fundedUser(h, cents, "capped");

  const execute = (token: string, spell = "cent@v1") =>
    h.call("POST", "/api/spell/execute", { token, body: { spell, input: {} } });

  it("stops a token at its cap under concurrency, before anything runs; other tokens go on", async () => {
    const user = await funded(100);
    const capped = await tokenWith(user.id, { "spell:max_spend": { amount: 3, currency: "usd" } });
    const answers = await Promise.all(Array.from({ length: 10 }, () => execute(capped)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(3);
    const refused = answers.filter((answer) => answer.status === 402);
    expect(refused).toHaveLength(7);
    for (const answer of refused) {
      expect(answer.body.error).toMatchObject({
        code: "SPEND_LIMIT_REACHED",
        details: { limit: "token", scope: "token", max: 3, spent: 3, resetsAt: null },
      });
    }
    // Refused before the run: no stored successes beyond the three, the balance paid three.
    const balance = await h.call("GET", "/api/billing/balance", { token: user.token });
    expect(balance.body.account.balance).toBe(97 * 10_000);
    // The user's uncapped token is not held by the other token's cap.
    expect((await execute(user.token)).status).toBe(200);
  });

  it("counts tRPC and REST against one cap, and tokens sharing a jti share it", async () => {
    const user = await funded(100);
    const jti = randomUUID();
    const claims = { "spell:max_spend": { amount: 2, currency: "usd" }, jti };
    const first = await tokenWith(user.id, claims);
    const second = await tokenWith(user.id, { ...claims, extra: 1 });
    expect(first).not.toBe(second);
    expect((await execute(first)).status).toBe(200);
    const viaTrpc = await h.call("POST", "/trpc/spell.execute", {
      token: second,
      body: { spell: "cent@v1" },
    });
    expect(viaTrpc.status).toBe(200);
    const third = await h.call("POST", "/trpc/spell.execute", { token: first, body: { spell: "cent@v1" } });
    expect(third.status).toBe(402);
    expect(third.body.error.data).toMatchObject({ code: "SPEND_LIMIT_REACHED" });
  });

  it("refuses a token with a malformed claim (401 invalid_max_spend), never runs it uncapped", async () => {
    const user = await funded(100);
    for (const claim of [
      { amount: -1, currency: "usd" },
      { amount: 1 },
      "5",
      { amount: 1, currency: "usd", x: 1 },
    ]) {
      const token = await tokenWith(user.id, { "spell:max_spend": claim });
      const answer = await execute(token);
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({
        code: "UNAUTHORIZED",
        details: { reason: "invalid_max_spend" },
      });
    }
    const balance = await h.call("GET", "/api/billing/balance", { token: user.token });
    expect(balance.body.account.balance).toBe(100 * 10_000);
  });

  it("free spells run whatever the cap, even 0", async () => {
    const user = await h.user("free");
    const zero = await tokenWith(user.id, { "spell:max_spend": { amount: 0, currency: "usd" } });
    expect((await execute(zero, "echo@v1")).status).toBe(200);
    expect((await execute(zero)).status).toBe(402);
  });
});
