import { AppError } from "@spell/contracts";
import type { Access, Session } from "./engine-types.ts";
import type { UserRecord } from "./ports.ts";

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
