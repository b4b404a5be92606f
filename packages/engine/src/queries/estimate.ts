import { AppError, type EstimateOutput } from "@spell/contracts";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";
import { assertCanRun } from "../visibility.ts";

/** What an execute would cost, from the same `quote` execute uses; nothing is charged or run. */
export async function estimate(
  context: EngineContext,
  session: Session,
  request: { spell: string },
): Promise<EstimateOutput> {
  admit(session, "user");
  const lookup = await context.spells.findBySlug(request.spell, session.user.id);
  if (!lookup) throw new AppError("SPELL_NOT_FOUND", `No spell ${request.spell}`, { spell: request.spell });
  assertCanRun(lookup, session.user.id);
  const { spell } = lookup;
  const price = context.billing.quote(spell, session.user);
  return {
    ok: true,
    spell: { slug: spell.slug, runtime: spell.runtime, visibility: spell.visibility },
    price,
    paymentMethodRequired: price.amount > 0,
    paymentMethodOnFile: context.billing.hasPaymentMethod(session.user),
  };
}
