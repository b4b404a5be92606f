import type { MeOutput } from "@spell/contracts";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";

const RECENT_EXECUTIONS = 20;
const RECENT_LEDGER_ENTRIES = 10;

/** The caller's profile and recent usage; open to banned callers, as it is how they learn their status. */
export async function me(context: EngineContext, session: Session): Promise<MeOutput> {
  admit(session, "any");
  const prepaid = context.billing.prepaid;
  const [{ user, usage }, account, recent] = await Promise.all([
    context.users.describe(session.user, RECENT_EXECUTIONS),
    prepaid?.account(session.user.id),
    prepaid?.history(session.user.id, RECENT_LEDGER_ENTRIES),
  ]);
  return {
    ok: true,
    user: {
      id: user.id,
      status: user.status,
      hasPaymentMethod: context.billing.hasPaymentMethod(user),
      createdAt: user.createdAt.toISOString(),
    },
    usage,
    ...(account && recent ? { prepaid: { account, recent } } : {}),
  };
}
