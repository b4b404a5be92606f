import {
  AppError,
  type BalanceOutput,
  type HistoryOutput,
  type RefundTopUpOutput,
  type TopUpOutput,
  type ZAdminSpendLimitsInput,
  type ZAutoReloadInput,
  type ZBalanceInput,
  type ZHistoryInput,
  type ZRefundTopUpInput,
  type ZSpendLimitsInput,
  type ZTopUpInput,
} from "@spell/contracts";
import type { z } from "zod";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";
import type { PrepaidAccounts } from "./ports.ts";

const DEFAULT_HISTORY = 50;
const RECENT_ON_BALANCE = 10;

/** The prepaid use cases: balance, history, top-up, spend caps, auto-reload. */
export interface PrepaidOperations {
  balance(session: Session, input?: z.output<typeof ZBalanceInput>): Promise<BalanceOutput>;
  history(session: Session, input?: z.output<typeof ZHistoryInput>): Promise<HistoryOutput>;
  topUp(session: Session, input: z.output<typeof ZTopUpInput>): Promise<TopUpOutput>;
  /** The owner refunds their own top-up's unspent part; an admin any user's. */
  refundTopUp(session: Session, input: z.output<typeof ZRefundTopUpInput>): Promise<RefundTopUpOutput>;
  setSpendLimits(session: Session, input: z.output<typeof ZSpendLimitsInput>): Promise<BalanceOutput>;
  setAutoReload(session: Session, input: z.output<typeof ZAutoReloadInput>): Promise<BalanceOutput>;
  /** Admin: a user's ceilings (the user may only go lower). */
  adminSetSpendLimits(
    session: Session,
    input: z.output<typeof ZAdminSpendLimitsInput>,
  ): Promise<BalanceOutput>;
}

function prepaidOf(context: EngineContext): PrepaidAccounts {
  const prepaid = context.billing.prepaid;
  if (!prepaid) {
    throw new AppError("BILLING_NOT_CONFIGURED", "Prepaid billing is not enabled on this server", {
      hint: "SPELL_BILLING_MODE=prepaid",
    });
  }
  return prepaid;
}

async function balanceOf(
  prepaid: PrepaidAccounts,
  userId: string,
  currency?: string,
): Promise<BalanceOutput> {
  const [account, recent] = await Promise.all([
    prepaid.account(userId, currency),
    prepaid.history(userId, RECENT_ON_BALANCE),
  ]);
  return { ok: true, account, recent };
}

export function createPrepaidOperations(context: EngineContext): PrepaidOperations {
  return {
    async balance(session, input) {
      admit(session, "user");
      return balanceOf(prepaidOf(context), session.user.id, input?.currency);
    },
    async history(session, input) {
      admit(session, "user");
      const entries = await prepaidOf(context).history(session.user.id, input?.limit ?? DEFAULT_HISTORY);
      return { ok: true, entries };
    },
    async topUp(session, input) {
      admit(session, "user");
      const result = await prepaidOf(context).topUp(session.user, input);
      return { ok: true, ...result };
    },
    async refundTopUp(session, input) {
      admit(session, "user");
      const result = await prepaidOf(context).refundTopUp({
        ...input,
        by: { userId: session.user.id, admin: session.caller.isAdmin },
      });
      return { ok: true, ...result };
    },
    async setSpendLimits(session, input) {
      admit(session, "user");
      const prepaid = prepaidOf(context);
      await prepaid.setLimits(session.user.id, "user", input);
      return balanceOf(prepaid, session.user.id, input.currency);
    },
    async setAutoReload(session, input) {
      admit(session, "user");
      const prepaid = prepaidOf(context);
      await prepaid.setAutoReload(session.user.id, input.currency, input.autoReload);
      return balanceOf(prepaid, session.user.id, input.currency);
    },
    async adminSetSpendLimits(session, input) {
      admit(session, "admin");
      const prepaid = prepaidOf(context);
      const { userId, ...change } = input;
      await context.users.ensureUser(userId);
      await prepaid.setLimits(userId, "admin", change);
      return balanceOf(prepaid, userId, input.currency);
    },
  };
}
