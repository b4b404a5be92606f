import { router } from "../../trpc.ts";
import { autoReloadProcedure } from "./auto-reload.ts";
import { balanceProcedure } from "./balance.ts";
import { checkoutUrlProcedure } from "./checkout-url.ts";
import { confirmIntentProcedure } from "./confirm-intent.ts";
import { historyProcedure } from "./history.ts";
import { portalUrlProcedure } from "./portal-url.ts";
import { refundTopUpProcedure } from "./refund-top-up.ts";
import { spendLimitsProcedure } from "./spend-limits.ts";
import { topUpProcedure } from "./top-up.ts";

/** Billing: checkout and portal links, intents, and the prepaid balance with its caps. */
export const billingRouter = router({
  checkoutUrl: checkoutUrlProcedure,
  portalUrl: portalUrlProcedure,
  confirmIntent: confirmIntentProcedure,
  balance: balanceProcedure,
  history: historyProcedure,
  topUp: topUpProcedure,
  refundTopUp: refundTopUpProcedure,
  spendLimits: spendLimitsProcedure,
  autoReload: autoReloadProcedure,
});
