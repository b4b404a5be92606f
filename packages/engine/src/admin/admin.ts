import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Engine, Session } from "../engine-types.ts";

/** Bans a user: from the next request on, everything but `me` answers USER_BANNED. */
export async function ban(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["ban"]>[1],
): ReturnType<Engine["ban"]> {
  admit(session, "admin");
  await context.admin.banUser(input.userId, input.reason, session.caller.userId);
  return { ok: true, userId: input.userId, status: "banned" };
}

export async function unban(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["unban"]>[1],
): ReturnType<Engine["unban"]> {
  admit(session, "admin");
  await context.admin.unbanUser(input.userId);
  return { ok: true, userId: input.userId, status: "active" };
}

/** Adds a user to a team or removes them; `team` spells admit members only. */
export async function setTeamMembership(
  context: EngineContext,
  session: Session,
  input: Parameters<Engine["setTeamMembership"]>[1],
): ReturnType<Engine["setTeamMembership"]> {
  admit(session, "admin");
  const member = input.action === "add";
  await context.admin.setTeamMembership(input.teamId, input.userId, member);
  return { ok: true, teamId: input.teamId, userId: input.userId, member };
}
