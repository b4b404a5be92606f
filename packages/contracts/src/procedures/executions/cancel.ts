import { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZExecutionView } from "./get.ts";

export const ZCancelExecutionInput = z.object({ id: z.string().min(1).max(100) });
export const ZCancelExecutionOutput = z.object({ ok: z.literal(true), execution: ZExecutionView });
export type CancelExecutionOutput = z.infer<typeof ZCancelExecutionOutput>;

export const cancelExecutionContract = defineProcedure({
  route: {
    method: "POST",
    // `POST /api/executions/cancel` with `{"id": …}` stays an alias (packages/api's procedure).
    path: "/executions/{id}/cancel",
    summary:
      "Cancel one of your asynchronous executions: a queued one never runs and is never charged; a running one's result is discarded and its money released",
    tags: ["executions"],
    access: "user",
  },
  input: ZCancelExecutionInput,
  output: ZCancelExecutionOutput,
  errors: ["USER_BANNED", "NOT_FOUND"],
});
export const cancelExecutionRoute = cancelExecutionContract.route;
