import { z } from "zod";
import { defineProcedure, ZRuntime } from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { ZExecutionStatus } from "../me.ts";
import { ZBillingSummary } from "../spell/execute.ts";

export const ZExecutionView = z
  .object({
    executionId: z.string(),
    status: ZExecutionStatus,
    spell: z.object({ slug: ZSlug, runtime: ZRuntime }),
    /** The artifact's JSON output once `succeeded` (null otherwise). */
    output: z.json().nullable(),
    /** As on execute once finished; null while queued or running. */
    billing: ZBillingSummary.nullable(),
    /** The error once `failed` or `canceled`, as execute would have answered it. */
    error: z
      .object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) })
      .nullable(),
    durationMs: z.number().int().min(0).nullable(),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: "Execution" });
export type ExecutionView = z.infer<typeof ZExecutionView>;

export const ZGetExecutionInput = z.object({ id: z.string().min(1).max(100) });
export const ZGetExecutionOutput = z.object({ ok: z.literal(true), execution: ZExecutionView });
export type GetExecutionOutput = z.infer<typeof ZGetExecutionOutput>;

export const getExecutionContract = defineProcedure({
  route: {
    method: "GET",
    // `GET /api/executions/get?id=…` stays an alias (packages/api's procedure declares it).
    path: "/executions/{id}",
    summary: "One of your executions: queued → running → succeeded | failed | canceled",
    tags: ["executions"],
    access: "user",
  },
  input: ZGetExecutionInput,
  output: ZGetExecutionOutput,
  errors: ["USER_BANNED", "NOT_FOUND"],
});
export const getExecutionRoute = getExecutionContract.route;
