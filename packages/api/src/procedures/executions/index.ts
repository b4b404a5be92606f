import { router } from "../../trpc.ts";
import { cancelExecutionProcedure } from "./cancel.ts";
import { getExecutionProcedure } from "./get.ts";
import { listExecutionsProcedure } from "./list.ts";
import { webhookDeliveriesProcedure } from "./webhook-deliveries.ts";

/** Asynchronous executions: the owner's reads, cancel and webhook deliveries. */
export const executionsRouter = router({
  get: getExecutionProcedure,
  list: listExecutionsProcedure,
  cancel: cancelExecutionProcedure,
  webhookDeliveries: webhookDeliveriesProcedure,
});
