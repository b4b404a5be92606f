import { AppError } from "@spell/contracts";
import type { Access, Session } from "./engine-types.ts";
import type { AuthorScope, UserRecord } from "./ports.ts";

/** The one place bans and admin rights are decided, for every operation and every transport. */
export function admit(session: Session, access: Access): void {
  if (access === "any") return;
  assertNotBanned(session.user);
  if (access === "admin" && !session.caller.isAdmin) {
    throw new AppError("FORBIDDEN", "This operation needs the spell:admin scope", {});
  }
}

/** The pipeline's step 2, on the user row read together with the spell. */
export function assertNotBanned(user: UserRecord): void {
  if (user.status === "banned") {
    throw new AppError("USER_BANNED", "This account is banned", { userId: user.id });
  }
}

// Authors (issue 12). A spell belongs to its creator (`createdBy`) and, when it has one, its team.

/** The scope that lets a token publish spells and manage its own (from any trusted issuer). */
export const PUBLISH_SCOPE = "spell:publish";

/** What the ownership rules read of a spell. */
export interface OwnedSpell {
  spell: { createdBy: string; teamId: string | null };
  /** Whether the caller belongs to the spell's team. */
  callerIsTeamMember: boolean;
}

/** Admins, and tokens carrying `spell:publish`. */
export function canPublish(session: Session): boolean {
  return session.caller.isAdmin || session.caller.scopes.includes(PUBLISH_SCOPE);
}

/** Not banned, and `spell:publish` (or admin). */
export function assertMayPublish(session: Session): void {
  admit(session, "user");
  if (!canPublish(session)) {
    throw new AppError("FORBIDDEN", "Publishing needs the spell:publish scope", { scope: PUBLISH_SCOPE });
  }
}

function ownsOrShares(session: Session, owned: OwnedSpell): boolean {
  return (
    owned.spell.createdBy === session.caller.userId ||
    (owned.spell.teamId !== null && owned.callerIsTeamMember)
  );
}

/** Change a spell: an admin, or — with `spell:publish` — its owner or a member of its team. */
export function mayChange(session: Session, owned: OwnedSpell): boolean {
  if (session.caller.isAdmin) return true;
  return canPublish(session) && ownsOrShares(session, owned);
}

export function assertMayChange(session: Session, owned: OwnedSpell, slug: string): void {
  admit(session, "user");
  if (!mayChange(session, owned)) {
    throw new AppError("FORBIDDEN", `You may not change ${slug}: it belongs to another author`, {
      spell: slug,
    });
  }
}

/**
 * See a spell's runs, history and revenue: an admin, its owner (whatever the token's scopes), or a
 * member of its team with `spell:publish`.
 */
export function mayView(session: Session, owned: OwnedSpell): boolean {
  if (session.caller.isAdmin || owned.spell.createdBy === session.caller.userId) return true;
  return canPublish(session) && ownsOrShares(session, owned);
}

export function assertMayView(session: Session, owned: OwnedSpell, slug: string): void {
  admit(session, "user");
  if (!mayView(session, owned)) {
    throw new AppError("FORBIDDEN", `You may not see ${slug}: it belongs to another author`, { spell: slug });
  }
}

/** The spells a view without a slug covers, the same rule as `mayView` expressed as a filter. */
export function authorScope(session: Session): AuthorScope {
  return { all: session.caller.isAdmin, userId: session.caller.userId, teams: canPublish(session) };
}

/** Whether the caller may see who ran a spell: admins, the caller themselves, or a caller who shares it. */
export function mayIdentifyCaller(
  session: Session,
  run: { callerId: string; callerShares: boolean },
): boolean {
  return session.caller.isAdmin || run.callerShares || run.callerId === session.caller.userId;
}
