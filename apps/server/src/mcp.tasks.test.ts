import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectMcp, type McpTestClient, rawModernRequest } from "./mcp/testing.ts";
import { type Caller, type Harness, startHarness } from "./testutil/harness.ts";

// MCP tasks over the asynchronous executions (issue 13) on the real Postgres and pg-boss: the task
// is the execution row. On the embedded database: `mcp.tasks.embedded.test.ts`.
const serverUrl = process.env.DATABASE_URL;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.close());
afterEach(async () => {
  await h.runWorker?.resume();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ZTask = z.looseObject({
  taskId: z.string(),
  status: z.enum(["working", "input_required", "completed", "failed", "cancelled"]),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  ttl: z.number().nullable(),
  pollInterval: z.number().optional(),
  statusMessage: z.string().optional(),
});
const ZCreateTask = z.looseObject({ task: ZTask });
const ZCallResult = z.looseObject({
  content: z.array(z.looseObject({ type: z.string() })),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean().optional(),
  _meta: z.record(z.string(), z.unknown()).optional(),
});
const ZTaskList = z.looseObject({ tasks: z.array(ZTask), nextCursor: z.string().optional() });

/** 2025-11-25: `tools/call` with a `task` param. */
function callAsTask(mcp: McpTestClient, name: string, args: Record<string, unknown>) {
  return mcp.client.request(
    { method: "tools/call", params: { name, arguments: args, task: { ttl: 60_000 } } },
    ZCreateTask,
  );
}
const getTask = (mcp: McpTestClient, taskId: string) =>
  mcp.client.request({ method: "tasks/get", params: { taskId } }, ZTask);
const taskResult = (mcp: McpTestClient, taskId: string) =>
  mcp.client.request({ method: "tasks/result", params: { taskId } }, ZCallResult);
const cancelTask = (mcp: McpTestClient, taskId: string) =>
  mcp.client.request({ method: "tasks/cancel", params: { taskId } }, ZTask);

async function pollTask(mcp: McpTestClient, taskId: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await getTask(mcp, taskId);
    if (task.status !== "working" || Date.now() > deadline) return task;
    await sleep(50);
  }
}

async function withLegacy<T>(caller: Caller, fn: (mcp: McpTestClient) => Promise<T>): Promise<T> {
  const mcp = await connectMcp(h.url, caller.token, "legacy");
  try {
    return await fn(mcp);
  } finally {
    await mcp.close();
  }
}

describe.runIf(serverUrl)("MCP tasks, 2025-11-25 (tasks in core)", () => {
  it("advertises tasks for tools/call and task support on every tool", async () => {
    const caller = await h.user();
    await withLegacy(caller, async (mcp) => {
      expect(mcp.client.getServerCapabilities()?.tasks).toEqual({
        list: {},
        cancel: {},
        requests: { tools: { call: {} } },
      });
      const { tools } = await mcp.client.listTools();
      expect(tools.length).toBeGreaterThan(0);
      for (const tool of tools) expect(tool.execution).toEqual({ taskSupport: "optional" });
    });
  });

  it("a task-augmented call answers a task at once; tasks/get polls it to completed; tasks/result is the tool result", async () => {
    const caller = await h.user();
    await withLegacy(caller, async (mcp) => {
      const created = await callAsTask(mcp, "echo_v1", { hello: "task" });
      expect(created.task).toMatchObject({ status: "working", ttl: null, pollInterval: 1000 });
      const { taskId } = created.task;
      expect(taskId).toMatch(/^[0-9a-f-]{36}$/);

      const done = await pollTask(mcp, taskId);
      expect(done).toMatchObject({ taskId, status: "completed" });

      const result = await taskResult(mcp, taskId);
      expect(result.isError ?? false).toBe(false);
      expect(result.structuredContent).toEqual({ hello: "task" });
      expect(result._meta?.["io.modelcontextprotocol/related-task"]).toEqual({ taskId });
      expect(result._meta?.["spell/execution"]).toMatchObject({ executionId: taskId });

      // The task is the execution: REST reads the same row, and the run happened once.
      const row = await h.call("GET", `/api/executions/get?id=${taskId}`, { token: caller.token });
      expect(row.body.execution).toMatchObject({ status: "succeeded", output: { hello: "task" } });
      expect(await h.executionCount(caller.id)).toBe(1);

      const listed = await mcp.client.request({ method: "tasks/list", params: {} }, ZTaskList);
      expect(listed.tasks.map((task) => task.taskId)).toContain(taskId);
    });
  });

  it("tasks/result waits for a queued run to end", async () => {
    const caller = await h.user();
    await withLegacy(caller, async (mcp) => {
      await h.runWorker?.pause();
      const { task } = await callAsTask(mcp, "echo_v1", { later: 1 });
      const waiting = taskResult(mcp, task.taskId);
      await sleep(300);
      expect((await getTask(mcp, task.taskId)).status).toBe("working");
      await h.runWorker?.resume();
      const result = await waiting;
      expect(result.structuredContent).toEqual({ later: 1 });
    });
  });

  it("tasks/cancel cancels a queued run: cancelled, never run, the result an EXECUTION_CANCELED error", async () => {
    const caller = await h.user();
    await withLegacy(caller, async (mcp) => {
      await h.runWorker?.pause();
      const { task } = await callAsTask(mcp, "echo_v1", { never: true });
      const canceled = await cancelTask(mcp, task.taskId);
      expect(canceled).toMatchObject({ taskId: task.taskId, status: "cancelled" });
      await h.runWorker?.resume();
      await sleep(300);
      expect((await getTask(mcp, task.taskId)).status).toBe("cancelled");
      const result = await taskResult(mcp, task.taskId);
      expect(result.isError).toBe(true);
      expect(result._meta?.["spell/error"]).toMatchObject({ code: "EXECUTION_CANCELED" });
      await expect(cancelTask(mcp, task.taskId)).rejects.toMatchObject({ code: -32602 });
    });
  });

  it("another user's task id is not found for get, result and cancel, and their run goes on", async () => {
    const owner = await h.user("owner");
    const other = await h.user("other");
    await h.runWorker?.pause();
    const taskId = await withLegacy(
      owner,
      async (mcp) => (await callAsTask(mcp, "echo_v1", { mine: 1 })).task.taskId,
    );
    await withLegacy(other, async (mcp) => {
      await expect(getTask(mcp, taskId)).rejects.toMatchObject({
        code: -32602,
        message: expect.stringMatching(/not found/i),
      });
      await expect(taskResult(mcp, taskId)).rejects.toMatchObject({ code: -32602 });
      await expect(cancelTask(mcp, taskId)).rejects.toMatchObject({ code: -32602 });
      await expect(getTask(mcp, "not-a-uuid")).rejects.toMatchObject({ code: -32602 });
      const listed = await mcp.client.request({ method: "tasks/list", params: {} }, ZTaskList);
      expect(listed.tasks).toEqual([]);
    });
    await h.runWorker?.resume();
    await withLegacy(owner, async (mcp) => {
      expect((await pollTask(mcp, taskId)).status).toBe("completed");
    });
  });

  it("a banned user's task-augmented call is refused before anything runs, and their tasks are refused", async () => {
    const mallory = await h.user("mallory");
    const admin = await h.admin();
    await withLegacy(mallory, async (mcp) => {
      const earlier = await callAsTask(mcp, "echo_v1", { before: true });
      await pollTask(mcp, earlier.task.taskId);
      const ban = await h.call("POST", "/api/admin/ban", {
        token: admin.token,
        body: { userId: mallory.id, reason: "abuse" },
      });
      expect(ban.status).toBe(200);
      const refused = await mcp.client.request(
        { method: "tools/call", params: { name: "echo_v1", arguments: { a: 1 }, task: {} } },
        ZCallResult,
      );
      expect(refused.isError).toBe(true);
      expect(refused).not.toHaveProperty("task");
      expect(refused._meta?.["spell/error"]).toMatchObject({ code: "USER_BANNED" });
      await expect(getTask(mcp, earlier.task.taskId)).rejects.toThrow(/banned/i);
      await expect(cancelTask(mcp, earlier.task.taskId)).rejects.toThrow(/banned/i);
    });
    expect(await h.executionCount(mallory.id)).toBe(1);
  });

  it("visibility holds on the task path: another user's private spell is refused, no task, nothing queued", async () => {
    const owner = await h.user("owner");
    const other = await h.user("other");
    await h.publish({
      slug: "secret-task@v1",
      runtime: "builtin",
      artifact: { builtin: "echo" },
      visibility: "private",
      ownerId: owner.id,
    });
    await withLegacy(other, async (mcp) => {
      const refused = await mcp.client.request(
        { method: "tools/call", params: { name: "secret-task_v1", arguments: {}, task: {} } },
        ZCallResult,
      );
      expect(refused.isError).toBe(true);
      expect(refused).not.toHaveProperty("task");
      expect(refused._meta?.["spell/error"]).toMatchObject({ code: "VISIBILITY_DENIED" });
    });
    const modern = await rawModernRequest(
      h.url,
      other.token,
      "tools/call",
      { name: "secret-task_v1", arguments: {} },
      { tasks: true },
    );
    expect(modern.result).toMatchObject({ resultType: "complete", isError: true });
    expect(await h.executionCount(other.id)).toBe(0);
  });

  it("a call without a task param still runs synchronously", async () => {
    const caller = await h.user();
    await withLegacy(caller, async (mcp) => {
      await h.runWorker?.pause();
      const result = await mcp.client.callTool({ name: "echo_v1", arguments: { now: true } });
      expect(result.structuredContent).toEqual({ now: true });
    });
  });
});

describe.runIf(serverUrl)("MCP tasks, 2026-07-28 (io.modelcontextprotocol/tasks)", () => {
  it("server/discover names the extension; a declaring client gets a quick run's result directly", async () => {
    const caller = await h.user();
    const discover = await rawModernRequest(h.url, caller.token, "server/discover", {}, { tasks: true });
    expect(discover.result?.capabilities).toMatchObject({
      extensions: { "io.modelcontextprotocol/tasks": {} },
    });
    expect(discover.result?.capabilities).not.toHaveProperty("tasks");
    const tools = await rawModernRequest(h.url, caller.token, "tools/list", {}, { tasks: true });
    const [first] = (tools.result?.tools ?? []) as Array<Record<string, unknown>>;
    expect(first).toHaveProperty("name");
    expect(first).not.toHaveProperty("execution");

    const quick = await rawModernRequest(
      h.url,
      caller.token,
      "tools/call",
      { name: "echo_v1", arguments: { quick: true } },
      { tasks: true },
    );
    expect(quick.result).toMatchObject({ resultType: "complete", structuredContent: { quick: true } });
  });

  it("a run that outlasts the wait becomes a task; tasks/get inlines the result once completed", async () => {
    const caller = await h.user();
    await h.runWorker?.pause();
    const created = await rawModernRequest(
      h.url,
      caller.token,
      "tools/call",
      { name: "echo_v1", arguments: { slow: true } },
      { tasks: true },
    );
    expect(created.result).toMatchObject({
      resultType: "task",
      status: "working",
      ttlMs: null,
      pollIntervalMs: 1000,
    });
    expect(created.result).not.toHaveProperty("task");
    const taskId = created.result?.taskId as string;

    const working = await rawModernRequest(h.url, caller.token, "tasks/get", { taskId }, { tasks: true });
    expect(working.result).toMatchObject({ resultType: "complete", taskId, status: "working" });
    expect(working.result).not.toHaveProperty("result");

    await h.runWorker?.resume();
    const deadline = Date.now() + 15_000;
    let done = working;
    while (done.result?.status === "working" && Date.now() < deadline) {
      await sleep(100);
      done = await rawModernRequest(h.url, caller.token, "tasks/get", { taskId }, { tasks: true });
    }
    expect(done.result).toMatchObject({ status: "completed", result: { structuredContent: { slow: true } } });

    // No tasks/result on this revision; and a client that does not declare the extension is told so.
    const noResult = await rawModernRequest(h.url, caller.token, "tasks/result", { taskId }, { tasks: true });
    expect(noResult.error?.code).toBe(-32601);
    const undeclared = await rawModernRequest(h.url, caller.token, "tasks/get", { taskId });
    expect(undeclared.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { "io.modelcontextprotocol/tasks": {} } } },
    });
  }, 30_000);

  it("tasks/cancel acknowledges and the task ends cancelled; another user's id is not found", async () => {
    const caller = await h.user();
    const other = await h.user();
    await h.runWorker?.pause();
    const created = await rawModernRequest(
      h.url,
      caller.token,
      "tools/call",
      { name: "echo_v1", arguments: { cancel: true } },
      { tasks: true },
    );
    const taskId = created.result?.taskId as string;
    const theirs = await rawModernRequest(h.url, other.token, "tasks/cancel", { taskId }, { tasks: true });
    expect(theirs.error?.code).toBe(-32602);
    const ack = await rawModernRequest(h.url, caller.token, "tasks/cancel", { taskId }, { tasks: true });
    expect(ack.result).toMatchObject({ resultType: "complete" });
    expect(ack.result).not.toHaveProperty("status");
    const got = await rawModernRequest(h.url, caller.token, "tasks/get", { taskId }, { tasks: true });
    expect(got.result).toMatchObject({ status: "cancelled" });
    const again = await rawModernRequest(h.url, caller.token, "tasks/cancel", { taskId }, { tasks: true });
    expect(again.result).toMatchObject({ resultType: "complete" });
  }, 30_000);

  it("without the extension declared, a call runs synchronously even while the queue is stalled", async () => {
    const caller = await h.user();
    await h.runWorker?.pause();
    const plain = await rawModernRequest(h.url, caller.token, "tools/call", {
      name: "echo_v1",
      arguments: { sync: 1 },
    });
    expect(plain.result).toMatchObject({ resultType: "complete", structuredContent: { sync: 1 } });
  });
});
