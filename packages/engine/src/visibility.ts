import { AppError } from "@spell/contracts";
import type { SpellLookup } from "./ports.ts";

/** public: anyone; private: only the creator; team: only members of the spell's team. */
export function canRun(lookup: SpellLookup, userId: string): boolean {
  const { spell } = lookup;
  switch (spell.visibility) {
    case "public":
      return true;
    case "private":
      return spell.createdBy === userId;
    case "team":
      return spell.teamId !== null && lookup.callerIsTeamMember;
  }
}

export function assertCanRun(lookup: SpellLookup, userId: string): void {
  if (!canRun(lookup, userId)) {
    throw new AppError("VISIBILITY_DENIED", `You may not run ${lookup.spell.slug}`, {
      spell: lookup.spell.slug,
      visibility: lookup.spell.visibility,
    });
  }
  // Unpublished (issue 12): decided on the same single read, after visibility so a stranger learns nothing.
  if (lookup.spell.disabled === true) {
    throw new AppError("SPELL_DISABLED", `${lookup.spell.slug} is unpublished`, { spell: lookup.spell.slug });
  }
}
