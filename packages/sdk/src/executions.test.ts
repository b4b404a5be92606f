import { describe, expect, it } from "vitest";
import { createSpellClient, isExecuteAccepted, type SpellFetch } from "./client.ts";

function execution(status: string) {
  return {
    executionId: "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001",
    status,
    spell: { slug: "echo@v1", runtime: "builtin" },
    output: status === "succeeded" ? { a: 1 } : null,
    billing: null,
    error: null,
    durationMs: null,
    createdAt: "2026-12-01T15:00:00.000Z",
    finishedAt: null,
  };
}

/** Answers `executions.get` with the given states in turn (the last one repeated) and records the URLs. */
function statesServer(states: string[]) {
  const urls: string[] = [];
  let index = 0;
  const fetch: SpellFetch = async (url) => {
    urls.push(url);
    const status = states[Math.min(index, states.length - 1)] ?? "queued";
    index += 1;
    const body = { result: { data: { ok: true, execution: execution(status) } } };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  };
  return { fetch, urls };
}

describe("executions", () => {
  it("get reads executions.get with the id; wait polls until the run ends", async () => {
    const server = statesServer(["queued", "running", "succeeded"]);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const result = await client.executions.wait("0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001");
    expect(result.execution).toMatchObject({ status: "succeeded", output: { a: 1 } });
    expect(server.urls).toHaveLength(3);
    expect(server.urls[0]).toContain("/trpc/executions.get?input=");
    expect(decodeURIComponent(server.urls[0] ?? "")).toContain('"id":"0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001"');
  });

  it("wait gives up at its timeout with the last state read", async () => {
    const server = statesServer(["running"]);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const result = await client.executions.wait("0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001", { timeoutMs: 250 });
    expect(result.execution.status).toBe("running");
    expect(server.urls.length).toBeGreaterThanOrEqual(2);
  });
});

/** Records each request's headers and answers `spell.execute` with the given body. */
function executeServer(body: unknown) {
  const seen: { url: string; headers: Headers }[] = [];
  const fetch: SpellFetch = async (url, init) => {
    seen.push({ url, headers: new Headers(init?.headers) });
    return new Response(JSON.stringify({ result: { data: body } }), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  };
  return { fetch, seen };
}

const accepted = {
  ok: true,
  executionId: "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001",
  status: "queued",
  spell: { slug: "echo@v1", runtime: "builtin" },
  location: "/api/executions/get?id=0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001",
};

describe("asynchronous execute", () => {
  it("respondAsync sends Prefer: respond-async and Cancel-After on that call only; the guard knows the answer", async () => {
    const server = executeServer(accepted);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const answer = await client.execute("echo@v1", { a: 1 }, { respondAsync: true, cancelAfter: 30 });
    expect(isExecuteAccepted(answer)).toBe(true);
    if (!isExecuteAccepted(answer)) throw new Error("expected an accepted execution");
    expect(answer.location).toContain(answer.executionId);
    expect(server.seen[0]?.headers.get("prefer")).toBe("respond-async");
    expect(server.seen[0]?.headers.get("cancel-after")).toBe("30");
    expect(server.seen[0]?.headers.get("authorization")).toBe("Bearer t");

    await client.execute("echo@v1", { a: 2 });
    expect(server.seen[1]?.headers.get("prefer")).toBeNull();
    expect(server.seen[1]?.headers.get("cancel-after")).toBeNull();
    expect(server.seen[1]?.headers.get("authorization")).toBe("Bearer t");
  });

  it("wait sends Prefer: wait=N; a finished run is a result, not an accepted execution", async () => {
    const result = {
      ok: true,
      executionId: "0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001",
      spell: { slug: "echo@v1", runtime: "builtin" },
      output: { a: 1 },
      billing: { charged: false, status: "not_charged", amount: 0, currency: "usd", billingRecordId: null },
      durationMs: 3,
    };
    const server = executeServer(result);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const answer = await client.execute("echo@v1", { a: 1 }, { wait: 10 });
    expect(server.seen[0]?.headers.get("prefer")).toBe("wait=10");
    expect(isExecuteAccepted(answer)).toBe(false);
    if (isExecuteAccepted(answer)) throw new Error("expected a result");
    expect(answer.output).toEqual({ a: 1 });
  });
});

describe("executions.wait options", () => {
  it("onUpdate hears each new status once, in order", async () => {
    const server = statesServer(["queued", "queued", "running", "succeeded"]);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const heard: string[] = [];
    await client.executions.wait("0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001", {
      onUpdate: (execution) => heard.push(execution.status),
    });
    expect(heard).toEqual(["queued", "running", "succeeded"]);
    expect(server.urls).toHaveLength(4);
  });

  it("an aborted signal stops the polling with its reason", async () => {
    const server = statesServer(["running"]);
    const client = createSpellClient({ baseUrl: "http://spell.test", token: "t", fetch: server.fetch });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop")), 150);
    await expect(
      client.executions.wait("0b6f7d1e-6c1a-4c84-9a49-0d1c5cf2a001", { signal: controller.signal }),
    ).rejects.toThrow("stop");
    const polls = server.urls.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(server.urls.length).toBe(polls);
  });
});
