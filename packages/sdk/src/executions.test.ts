import { describe, expect, it } from "vitest";
import { createSpellClient, type SpellFetch } from "./client.ts";

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
