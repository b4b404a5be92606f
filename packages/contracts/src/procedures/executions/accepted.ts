import { z } from "zod";
import { ZRuntime } from "../../common.ts";
import { ZSlug } from "../../slug.ts";

/** Where an execution is read: `GET /api/executions/{id}`. */
export function executionLocation(executionId: string): string {
  return `/api/executions/${encodeURIComponent(executionId)}`;
}

/** `Prefer: respond-async` (or a `wait=N` that ran out): the run is queued; poll `location`. */
export const ZExecuteAccepted = z
  .object({
    ok: z.literal(true),
    executionId: z.string(),
    status: z.enum(["queued", "running"]),
    spell: z.object({ slug: ZSlug, runtime: ZRuntime }),
    /** Also the `Location` header of the 202 answer. */
    location: z.string(),
  })
  .meta({ id: "ExecuteAccepted" });
export type ExecuteAccepted = z.infer<typeof ZExecuteAccepted>;

/** Whether a procedure's answer is an accepted (202) asynchronous execution. */
export function isExecuteAccepted(output: unknown): output is ExecuteAccepted {
  if (output === null || typeof output !== "object") return false;
  const candidate = output as Partial<ExecuteAccepted>;
  return (
    candidate.ok === true &&
    typeof candidate.location === "string" &&
    (candidate.status === "queued" || candidate.status === "running")
  );
}
