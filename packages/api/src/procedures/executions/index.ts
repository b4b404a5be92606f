import { router } from "../../trpc.ts";
import { cancelExecutionProcedure } from "./cancel.ts";
import { getExecutionProcedure } from "./get.ts";
import { listExecutionsProcedure } from "./list.ts";

/** Asynchronous executions: the owner's reads and cancel. */
export const executionsRouter = router({
  get: getExecutionProcedure,
  list: listExecutionsProcedure,
  cancel: cancelExecutionProcedure,
});
