import { router } from "../trpc.ts";
import { banProcedure } from "./admin/ban.ts";
import { publishProcedure } from "./admin/publish.ts";
import { teamMembersProcedure } from "./admin/team-members.ts";
import { unbanProcedure } from "./admin/unban.ts";
import { disableSpellProcedure } from "./authors/disable.ts";
import { authorPublishProcedure } from "./authors/publish.ts";
import { rollbackProcedure } from "./authors/rollback.ts";
import { runLogProcedure } from "./authors/run-log.ts";
import { authorRunsProcedure } from "./authors/runs.ts";
import { shareIdentityProcedure } from "./authors/share-identity.ts";
import { spellStatsProcedure } from "./authors/stats.ts";
import { updateSpellProcedure } from "./authors/update.ts";
import { spellVersionsProcedure } from "./authors/versions.ts";
import { adminSpendLimitsProcedure } from "./billing/admin-spend-limits.ts";
import { billingRouter } from "./billing/index.ts";
import { executionsRouter } from "./executions/index.ts";
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
  executions: executionsRouter,
  admin: router({
    ban: banProcedure,
    unban: unbanProcedure,
    publish: publishProcedure,
    teamMembers: teamMembersProcedure,
    spendLimits: adminSpendLimitsProcedure,
  }),
  authors: router({
    publish: authorPublishProcedure,
    update: updateSpellProcedure,
    versions: spellVersionsProcedure,
    rollback: rollbackProcedure,
    disable: disableSpellProcedure,
    runs: authorRunsProcedure,
    runLog: runLogProcedure,
    stats: spellStatsProcedure,
    shareIdentity: shareIdentityProcedure,
  }),
  billing: billingRouter,
});

export type AppRouter = typeof appRouter;
