import { randomUUID } from "node:crypto";
import type { PublishInput } from "@spell/contracts";
import type { EnvSource } from "../env.ts";
import { type Caller, type Harness, startHarness } from "./harness.ts";

/** Prepaid mode on the LOCAL TEST provider: cards and top-ups without Stripe. */
export const LOCAL_PREPAID_ENV: EnvSource = { SPELL_BILLING: "local", SPELL_BILLING_MODE: "prepaid" };

/** The harness in local prepaid mode with `spells` published. */
export async function startLocalPrepaidHarness(spells: PublishInput[]): Promise<Harness> {
  const h = await startHarness({ env: LOCAL_PREPAID_ENV });
  try {
    for (const spell of spells) await h.publish(spell);
  } catch (error) {
    await h.close();
    throw error;
  }
  return h;
}

/** Saves the LOCAL test card for `caller`; throws unless the server answers 200. */
export async function attachLocalCard(h: Harness, caller: Caller): Promise<void> {
  const attached = await h.call("POST", "/api/billing/local/attach", {
    token: caller.token,
    body: { paymentMethod: "pm_card_visa" },
  });
  if (attached.status !== 200) {
    throw new Error(`local/attach answered ${attached.status}: ${JSON.stringify(attached.body)}`);
  }
}

/**
 * A new user (`prefix-…`) with the LOCAL test card saved and `cents` topped up; throws unless the
 * top-up succeeded and credited exactly `cents` (a set-up failure fails the test that asked for it).
 */
export async function fundedUser(h: Harness, cents: number, prefix: string): Promise<Caller> {
  const user = await h.user(prefix);
  await attachLocalCard(h, user);
  const topUp = await h.call("POST", "/api/billing/top-up", {
    token: user.token,
    body: { amount: cents, idempotencyKey: randomUUID() },
  });
  const body = topUp.body;
  const credited =
    topUp.status === 200 &&
    body?.ok === true &&
    body.status === "succeeded" &&
    body.credited === true &&
    body.balance === cents * 10_000;
  if (!credited) {
    throw new Error(`top-up of ${cents}¢ not credited in full: ${topUp.status} ${JSON.stringify(body)}`);
  }
  return user;
}
