import { confirmIntentRoute, ZConfirmIntentInput, ZExecuteOutput } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";

export const confirmIntentProcedure = userProcedure
  .meta(
    routeMeta(confirmIntentRoute, [
      "USER_BANNED",
      "BILLING_NOT_CONFIGURED",
      "BILLING_FAILED",
      "PAYMENT_REQUIRES_ACTION",
      "FORBIDDEN",
      "NOT_FOUND",
      "SPELL_NOT_FOUND",
      "RUNTIME_ERROR",
      "RUNTIME_MEMORY_LIMIT",
      "RUNTIME_OUTPUT_LIMIT",
      "RUNTIME_TIMEOUT",
    ]),
  )
  .input(ZConfirmIntentInput)
  .output(ZExecuteOutput)
  .mutation(({ ctx, input }) => ctx.engine.confirmIntent(ctx.session, input));
