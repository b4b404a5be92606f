import { router } from "../trpc.ts";
import { banProcedure } from "./admin/ban.ts";
import { publishProcedure } from "./admin/publish.ts";
import { teamMembersProcedure } from "./admin/team-members.ts";
import { unbanProcedure } from "./admin/unban.ts";
import { checkoutUrlProcedure } from "./billing/checkout-url.ts";
import { confirmIntentProcedure } from "./billing/confirm-intent.ts";
import { portalUrlProcedure } from "./billing/portal-url.ts";
import { meProcedure } from "./me.ts";
import { estimateProcedure } from "./spell/estimate.ts";
import { executeProcedure } from "./spell/execute.ts";
import { listSpellsProcedure } from "./spell/list.ts";

/** The one router: served as tRPC at `/trpc` and as REST under `/api` (paths from the contracts). */
export const appRouter = router({
  spell: router({
    execute: executeProcedure,
    estimate: estimateProcedure,
    list: listSpellsProcedure,
  }),
  me: meProcedure,
  admin: router({
    ban: banProcedure,
    unban: unbanProcedure,
    publish: publishProcedure,
    teamMembers: teamMembersProcedure,
  }),
  billing: router({
    checkoutUrl: checkoutUrlProcedure,
    portalUrl: portalUrlProcedure,
    confirmIntent: confirmIntentProcedure,
  }),
});

export type AppRouter = typeof appRouter;
