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
import { autoReloadProcedure } from "./billing/auto-reload.ts";
import { balanceProcedure } from "./billing/balance.ts";
import { checkoutUrlProcedure } from "./billing/checkout-url.ts";
import { confirmIntentProcedure } from "./billing/confirm-intent.ts";
import { historyProcedure } from "./billing/history.ts";
import { portalUrlProcedure } from "./billing/portal-url.ts";
import { spendLimitsProcedure } from "./billing/spend-limits.ts";
import { topUpProcedure } from "./billing/top-up.ts";
import { cancelExecutionProcedure } from "./executions/cancel.ts";
import { getExecutionProcedure } from "./executions/get.ts";
import { listExecutionsProcedure } from "./executions/list.ts";
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
  executions: router({
    get: getExecutionProcedure,
    list: listExecutionsProcedure,
    cancel: cancelExecutionProcedure,
  }),
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
  billing: router({
    checkoutUrl: checkoutUrlProcedure,
    portalUrl: portalUrlProcedure,
    confirmIntent: confirmIntentProcedure,
    balance: balanceProcedure,
    history: historyProcedure,
    topUp: topUpProcedure,
    spendLimits: spendLimitsProcedure,
    autoReload: autoReloadProcedure,
  }),
});

export type AppRouter = typeof appRouter;
