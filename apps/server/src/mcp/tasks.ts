import {
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  ProtocolError,
  RELATED_TASK_META_KEY,
  type Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import {
  AppError,
  type ErrorCode,
  type ExecuteAccepted,
  type ExecuteOutput,
  type ExecutionView,
  isExecuteAccepted,
  toAppError,
} from "@spell/contracts";
import type { Engine, ExecuteRequest, ExecutionOperations, Session } from "@spell/engine";
import { z } from "zod";
import { errorResult, successResult } from "./tools.ts";

/**
 * MCP tasks over Spell's asynchronous executions (issue 13): a task is an execution row in Postgres
 * (task id = execution id), so any API process answers any poll and the per-request servers stay
 * stateless. Two wire generations are served:
 * - 2025-11-25 (core tasks): `tools/call` with a `task` param answers `{task}`; `tasks/get`,
 *   `tasks/result` (waits for the end), `tasks/list`, `tasks/cancel`.
 * - 2026-07-28 (`io.modelcontextprotocol/tasks`, SEP-2663): a client that declares the extension on
 *   its request gets the result if the run ends within `TASK_WAIT_MS`, else `resultType: "task"`;
 *   `tasks/get` inlines the final result; `tasks/cancel` acknowledges.
 * The SDK (2.4) has no task runtime, so these are its request handlers over the engine.
 */

export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";
/** The interval suggested to pollers: runs take from milliseconds to tens of seconds. */
export const TASK_POLL_INTERVAL_MS = 1000;
/** 2026-07-28: how long `tools/call` holds for the result before it answers a task instead. */
export const TASK_WAIT_MS = 3000;
/** 2025-11-25 `tasks/result` waits for the end at most this long (under clients' 60 s timeout). */
export const TASK_RESULT_WAIT_MS = 50_000;

/** JSON-RPC codes the tasks specifications name. */
const INVALID_PARAMS = -32602;
const MISSING_CLIENT_CAPABILITY = -32021;
/** A Spell error outside `tools/call` (the Spell code is in `data`), as `tools/list` uses. */
const SPELL_ERROR = -32000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

/** Whether the engine can queue runs (a job engine on a PostgreSQL server; the embedded database has none). */
export function tasksAvailable(engine: Engine): boolean {
  return engine.executions?.available === true;
}

type Era = "2025" | "2026";

/** 2026-07-28 requests carry the `_meta` envelope; 2025-era ones never do. */
export function eraOf(ctx: ServerContext): Era {
  return ctx.mcpReq.envelope === undefined ? "2025" : "2026";
}

/** 2026-07-28: whether this request's client declared the tasks extension. */
export function declaresTasks(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const capabilities = envelope?.[CLIENT_CAPABILITIES_META_KEY] as
    | { extensions?: Record<string, unknown> }
    | undefined;
  return capabilities?.extensions?.[TASKS_EXTENSION] !== undefined;
}

type TaskStatus = "working" | "completed" | "failed" | "cancelled";

function statusOf(execution: Pick<ExecutionView, "status" | "error">, era: Era): TaskStatus {
  if (execution.status === "succeeded") return "completed";
  if (execution.status === "canceled") return "cancelled";
  // 2026-07-28 keeps `failed` for JSON-RPC errors: a Spell error is a tool result with isError.
  if (execution.status === "failed") return era === "2025" ? "failed" : "completed";
  return "working";
}

function statusMessageOf(execution: Pick<ExecutionView, "status" | "error">): string {
  if (execution.error) return `${execution.error.code}: ${execution.error.message}`;
  return `The execution is ${execution.status}`;
}

type TaskSource = Pick<ExecutionView, "executionId" | "status" | "error" | "createdAt" | "finishedAt">;

/** The task of an execution, in the era's shape (rows are kept, so no TTL). */
function taskOf(execution: TaskSource, era: Era): Record<string, unknown> {
  const common = {
    taskId: execution.executionId,
    status: statusOf(execution, era),
    statusMessage: statusMessageOf(execution),
    createdAt: execution.createdAt,
    lastUpdatedAt: execution.finishedAt ?? execution.createdAt,
  };
  return era === "2025"
    ? { ...common, ttl: null, pollInterval: TASK_POLL_INTERVAL_MS }
    : { ...common, ttlMs: null, pollIntervalMs: TASK_POLL_INTERVAL_MS };
}

/** The `tools/call` result a finished execution stands for (what the synchronous call answers). */
function callResultOf(execution: ExecutionView, baseUrl: string): CallToolResult {
  if (execution.status === "succeeded" && execution.billing) {
    const output: ExecuteOutput = {
      ok: true,
      executionId: execution.executionId,
      spell: execution.spell,
      output: execution.output,
      billing: execution.billing,
      durationMs: execution.durationMs ?? 0,
    };
    return successResult(output);
  }
  const error = execution.error ?? { code: "INTERNAL_ERROR", message: "Internal error", details: {} };
  return errorResult(new AppError(error.code as ErrorCode, error.message, error.details), { baseUrl });
}

/**
 * A task handle as a `tools/call` result. `content` is there because the SDK validates every
 * `tools/call` answer as a CallToolResult (content required); a client that does not know tasks
 * reads the id in it. 2025-11-25 wraps the task in `task`; 2026-07-28 inlines it with `resultType`.
 */
function createTaskResult(accepted: ExecuteAccepted | TaskSource, era: Era): CallToolResult {
  const source: TaskSource =
    "location" in accepted
      ? {
          executionId: accepted.executionId,
          status: accepted.status,
          error: null,
          createdAt: new Date().toISOString(),
          finishedAt: null,
        }
      : accepted;
  const task = taskOf(source, era);
  const content: CallToolResult["content"] = [
    {
      type: "text",
      text: `Started as task ${source.executionId}: poll tasks/get with this taskId for its status and result.`,
    },
  ];
  return (era === "2025" ? { task, content } : { resultType: "task", ...task, content }) as CallToolResult;
}

/**
 * `tools/call` as a task: the pipeline up to the charge runs now (a refusal is the usual isError
 * result and no task exists), then the run is queued on the job engine.
 */
export async function callAsTask(
  executions: ExecutionOperations,
  authorization: string,
  request: ExecuteRequest,
  era: Era,
): Promise<CallToolResult> {
  const answer = await executions.executeAsync(authorization, request, {
    waitMs: era === "2025" ? 0 : TASK_WAIT_MS,
  });
  if (isExecuteAccepted(answer)) return createTaskResult(answer, era);
  // 2026-07-28: finished within the wait, the plain result. 2025-11-25 asked for a task, so a
  // repeat of a finished key is a completed task whose result tasks/result answers.
  if (era === "2026") return successResult(answer);
  const now = new Date().toISOString();
  return createTaskResult(
    { executionId: answer.executionId, status: "succeeded", error: null, createdAt: now, finishedAt: now },
    era,
  );
}

function protocolErrorOf(thrown: unknown): ProtocolError {
  if (thrown instanceof ProtocolError) return thrown;
  const error = toAppError(thrown);
  if (error.code === "NOT_FOUND")
    return new ProtocolError(INVALID_PARAMS, "Failed to retrieve task: Task not found");
  if (error.code === "VALIDATION_ERROR")
    return new ProtocolError(INVALID_PARAMS, error.message, error.toBody().error);
  return new ProtocolError(SPELL_ERROR, error.message, error.toBody().error);
}

const ZTaskParams = z.looseObject({ taskId: z.string().min(1).max(200) });
const ZListParams = z.looseObject({ cursor: z.string().min(1).max(200).optional() });

export interface TaskHandlerContext {
  executions: ExecutionOperations;
  session: Session;
  baseUrl: string;
}

/** Registers `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` on a per-request server. */
export function registerTaskHandlers(
  server: Server,
  { executions, session, baseUrl }: TaskHandlerContext,
): void {
  /** The caller's own execution (another user's id is "not found", as on REST). */
  async function read(taskId: string): Promise<ExecutionView> {
    if (!UUID.test(taskId))
      throw new ProtocolError(INVALID_PARAMS, "Failed to retrieve task: Task not found");
    const { execution } = await executions.get(session, { id: taskId });
    return execution;
  }

  function requireExtension(ctx: ServerContext): void {
    if (eraOf(ctx) === "2026" && !declaresTasks(ctx)) {
      throw new ProtocolError(MISSING_CLIENT_CAPABILITY, "Missing required client capability", {
        requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
      });
    }
  }

  server.setRequestHandler("tasks/get", { params: ZTaskParams }, async ({ taskId }, ctx) => {
    try {
      requireExtension(ctx);
      const execution = await read(taskId);
      const era = eraOf(ctx);
      const task = taskOf(execution, era);
      // 2026-07-28 inlines the final result; 2025-11-25 hands it out through tasks/result.
      if (era === "2026" && task.status === "completed")
        return { ...task, result: callResultOf(execution, baseUrl) };
      return task;
    } catch (thrown) {
      throw protocolErrorOf(thrown);
    }
  });

  // 2025-11-25 only (SEP-2663 dropped it; the SDK answers "method not found" on 2026-07-28).
  server.setRequestHandler("tasks/result", { params: ZTaskParams }, async ({ taskId }, ctx) => {
    try {
      let execution = await read(taskId);
      const deadline = Date.now() + TASK_RESULT_WAIT_MS;
      let delay = 100;
      while (!TERMINAL.has(execution.status)) {
        if (Date.now() + delay > deadline || ctx.mcpReq.signal.aborted) {
          throw new ProtocolError(SPELL_ERROR, `The task is still ${execution.status}: poll tasks/get`, {
            code: "EXECUTION_PENDING",
            taskId,
            status: execution.status,
          });
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
        execution = await read(taskId);
      }
      const result = callResultOf(execution, baseUrl);
      return { ...result, _meta: { ...result._meta, [RELATED_TASK_META_KEY]: { taskId } } };
    } catch (thrown) {
      throw protocolErrorOf(thrown);
    }
  });

  server.setRequestHandler("tasks/list", { params: ZListParams }, async ({ cursor }) => {
    try {
      const page = await executions.list(session, cursor === undefined ? {} : { cursor });
      const tasks = page.executions.map((execution) => taskOf(execution, "2025"));
      return { tasks, ...(page.nextCursor === null ? {} : { nextCursor: page.nextCursor }) };
    } catch (thrown) {
      throw protocolErrorOf(thrown);
    }
  });

  server.setRequestHandler("tasks/cancel", { params: ZTaskParams }, async ({ taskId }, ctx) => {
    try {
      requireExtension(ctx);
      const era = eraOf(ctx);
      const before = await read(taskId);
      if (TERMINAL.has(before.status)) {
        // 2025-11-25 refuses; 2026-07-28's cancel is a cooperative request, acknowledged anyway.
        if (era === "2025") {
          throw new ProtocolError(
            INVALID_PARAMS,
            `Cannot cancel task: already in terminal status '${statusOf(before, era)}'`,
          );
        }
        return {};
      }
      const { execution } = await executions.cancel(session, { id: taskId });
      return era === "2025" ? taskOf(execution, era) : {};
    } catch (thrown) {
      throw protocolErrorOf(thrown);
    }
  });
}
