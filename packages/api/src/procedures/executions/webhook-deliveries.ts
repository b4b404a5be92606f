import { webhookDeliveriesContract } from "@spell/contracts";
import { routeMeta, userProcedure } from "../../trpc.ts";
import { executionsOf } from "./operations.ts";

/** The owner's view of a run's webhook deliveries: another user's (or an unknown) id is NOT_FOUND. */
export const webhookDeliveriesProcedure = userProcedure
  .meta(routeMeta(webhookDeliveriesContract))
  .input(webhookDeliveriesContract.input)
  .output(webhookDeliveriesContract.output)
  .query(async ({ ctx, input }) => {
    const { execution } = await executionsOf(ctx.engine).get(ctx.session, input);
    const deliveries = (await ctx.engine.webhooks?.deliveries(execution.executionId)) ?? [];
    return { ok: true as const, executionId: execution.executionId, deliveries };
  });
