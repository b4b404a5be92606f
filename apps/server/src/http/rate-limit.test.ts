import { createTestDatabase, type TestDatabase } from "@spell/db/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMcp } from "../mcp/testing.ts";
import { type Harness, startHarness } from "../testutil/harness.ts";
import { call } from "../testutil/http.ts";
import { createRateLimits, parseRateLimitRule } from "./rate-limit.ts";

describe("parseRateLimitRule", () => {
  it.each([
    ["60/60", { points: 60, durationSeconds: 60 }],
    [" 5 / 1s ", { points: 5, durationSeconds: 1 }],
  ])("reads %s", (text, rule) => {
    expect(parseRateLimitRule(text)).toEqual(rule);
  });
  it.each(["", "60", "0/60", "60/0", "a/b", "-1/5"])("refuses %j", (text) => {
    expect(() => parseRateLimitRule(text)).toThrow(/points/);
  });
});

describe.runIf(process.env.DATABASE_URL)("rate limits on Postgres", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ url: process.env.DATABASE_URL as string });
  });
  afterAll(() => db?.drop());

  const open = (perSpell: number) =>
    createRateLimits(
      { perUser: { points: 100, durationSeconds: 60 }, perSpell: { points: perSpell, durationSeconds: 60 } },
      { url: db.url },
    );

  it("gives each of many executes counted in one statement its own place in the window", async () => {
    const limits = await open(5);
    const other = await open(5);
    try {
      // Started in one synchronous run: all of them go out in the same upsert.
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) => limits.consume(`user-${i % 3}`, "echo@v1")),
      );
      expect(outcomes.map((outcome) => outcome?.refused)).toEqual([
        ...Array(5).fill(false),
        ...Array(7).fill(true),
      ]);
      // Each counted execute has its own place in the spell's window (the tightest policy).
      expect(outcomes.slice(0, 5).map((outcome) => outcome?.remaining)).toEqual([4, 3, 2, 1, 0]);
      for (const outcome of outcomes.slice(5)) {
        expect(outcome).toMatchObject({ policy: "spell", limit: 5, windowSeconds: 60, remaining: 0 });
        expect(outcome?.resetMs).toBeGreaterThan(0);
      }
      // Another process on the same table sees the same counts.
      await expect(other.consume("user-9", "echo@v1")).resolves.toMatchObject({ refused: true });
      await expect(other.consume("user-9", "other@v1")).resolves.toMatchObject({
        refused: false,
        policy: "spell",
        remaining: 4,
      });
    } finally {
      await limits.close();
      await other.close();
    }
  });

  it("takes points ahead for a key with much left, and never admits more than the limit across processes", async () => {
    const wide = () =>
      createRateLimits(
        {
          perUser: { points: 1000, durationSeconds: 60 },
          perSpell: { points: 100_000, durationSeconds: 60 },
        },
        { url: db.url },
      );
    const a = await wide();
    const b = await wide();
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      // One statement took 1000/64 = 15 points for this process; the next executes spend them here.
      const first = await a.consume("lease-user", "lease@v1");
      expect(first).toMatchObject({ refused: false, remaining: 999 });
      const { rows } = await pool.query("SELECT points FROM spell_rate_limits WHERE key = $1", [
        "spell_user:lease-user",
      ]);
      expect(rows[0]?.points).toBe(15);
      for (let i = 0; i < 14; i++) await a.consume("lease-user", "lease@v1");
      const again = await pool.query("SELECT points FROM spell_rate_limits WHERE key = $1", [
        "spell_user:lease-user",
      ]);
      expect(again.rows[0]?.points).toBe(15);

      // Two processes spending one key to the end: exactly the limit is admitted, whatever was
      // taken ahead (the 15 above included), and the shared count never passes it by a lease.
      let admitted = 15;
      for (let i = 0; i < 1200; i++) {
        const state = await (i % 2 === 0 ? a : b).consume("lease-user", "lease@v1");
        if (state && !state.refused) admitted++;
      }
      expect(admitted).toBeLessThanOrEqual(1000);
      // What a process took and did not use is lost to the other: a little, near the end only.
      expect(admitted).toBeGreaterThanOrEqual(1000 - 2);
    } finally {
      await pool.end();
      await a.close();
      await b.close();
    }
  });

  it("counts a user key longer than the table's column in Postgres, across processes", async () => {
    const strict = () =>
      createRateLimits(
        { perUser: { points: 2, durationSeconds: 60 }, perSpell: { points: 100, durationSeconds: 60 } },
        { url: db.url },
      );
    const limits = await strict();
    const other = await strict();
    try {
      // A long subject (past varchar(255) with the key's prefix) must not fall back to each
      // process's own in-memory count.
      const user = `https://issuer.test|${"s".repeat(300)}`;
      await limits.consume(user, "long-user@v1");
      await limits.consume(user, "long-user@v1");
      await expect(other.consume(user, "long-user@v1")).resolves.toMatchObject({
        refused: true,
        policy: "user",
      });
      await expect(other.consume(`${user}x`, "long-user@v1")).resolves.toMatchObject({ refused: false });
    } finally {
      await limits.close();
      await other.close();
    }
  });

  it("counts a long key's executes together with the ones batched beside it", async () => {
    const limits = await open(5);
    const other = await open(5);
    try {
      // The spell's count of both executes reaches Postgres, where another process sees it.
      const mixed = await Promise.all([
        limits.consume("x".repeat(300), "long@v1"),
        limits.consume("user-0", "long@v1"),
      ]);
      expect(mixed.map((outcome) => outcome?.refused)).toEqual([false, false]);
      const more = await Promise.all([1, 2, 3, 4].map(() => other.consume("user-9", "long@v1")));
      expect(more.map((outcome) => outcome?.refused)).toEqual([false, false, false, true]);
    } finally {
      await limits.close();
      await other.close();
    }
  });
});

/** On Postgres when DATABASE_URL is set (the limits then hold across instances), else in memory. */
describe("execute rate limits", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { SPELL_RATE_LIMIT_USER: "3/2", SPELL_RATE_LIMIT_SPELL: "5/2" } });
  });
  afterAll(() => h?.close());

  const execute = (token: string, url = h.url) =>
    call(url, "POST", "/api/spell/execute", { token, body: { spell: "echo@v1", input: {} } });

  it("answers 429 RATE_LIMITED with Retry-After and the IETF headers, then recovers after the window", async () => {
    const user = await h.user();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await execute(user.token));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429]);
    for (const answer of answers) {
      expect(answer.headers.get("ratelimit-policy")).toBe('"user";q=3;w=2, "spell";q=5;w=2');
    }
    expect(answers[0]?.headers.get("ratelimit")).toMatch(/^"user";r=2;t=[12]$/);
    const limited = answers[3];
    expect(limited?.body.error).toMatchObject({
      code: "RATE_LIMITED",
      details: { policy: "user", limit: 3, windowSeconds: 2 },
    });
    expect(limited?.body.requestId).toEqual(expect.any(String));
    expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited?.headers.get("ratelimit")).toMatch(/^"user";r=0;t=\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await execute(user.token)).status).toBe(200);
  });

  const pause = () => new Promise((resolve) => setTimeout(resolve, 2_100));

  it("limits a spell across its callers", async () => {
    await pause();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await execute((await h.user()).token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await execute((await h.user()).token);
    expect(limited.body.error).toMatchObject({ code: "RATE_LIMITED", details: { policy: "spell" } });
    expect(limited.headers.get("ratelimit")).toMatch(/^"spell";r=0;t=\d+$/);
  });

  it("counts tRPC per user and per spell, with the same headers", async () => {
    await pause();
    const user = await h.user();
    const trpc = (token = user.token) =>
      call(h.url, "POST", "/trpc/spell.execute", { token, body: { spell: "echo@v1" } });
    const t = [await trpc(), await trpc(), await trpc(), await trpc()];
    expect(t.map((answer) => answer.status)).toEqual([200, 200, 200, 429]);
    expect(t[0]?.headers.get("ratelimit-policy")).toBe('"user";q=3;w=2, "spell";q=5;w=2');
    expect(t[0]?.headers.get("ratelimit")).toMatch(/^"user";r=2;t=[12]$/);
    expect(t[3]?.body.error.data).toMatchObject({ code: "RATE_LIMITED", httpStatus: 429 });
    expect(t[3]?.headers.get("retry-after")).toBeTruthy();
    // The spell's budget (5) is spent by REST and tRPC together.
    await pause();
    const mixed: number[] = [];
    for (let i = 0; i < 3; i++) mixed.push((await execute((await h.user()).token)).status);
    for (let i = 0; i < 3; i++) mixed.push((await trpc((await h.user()).token)).status);
    expect(mixed).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it("lets exactly the spell's allowance through when its callers arrive at once", async () => {
    await pause();
    const tokens = await Promise.all(Array.from({ length: 12 }, async () => (await h.user()).token));
    const answers = await Promise.all(tokens.map((token) => execute(token)));
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(7).fill(429)]);
    for (const answer of answers.filter((a) => a.status === 429)) {
      expect(answer.body.error).toMatchObject({ code: "RATE_LIMITED", details: { policy: "spell" } });
    }
  });

  it("does not spend the spell's allowance on a caller refused for its own limit", async () => {
    await pause();
    const user = await h.user();
    const own: number[] = [];
    for (let i = 0; i < 6; i++) own.push((await execute(user.token)).status);
    expect(own).toEqual([200, 200, 200, 429, 429, 429]);
    // The spell (5 per window) counted only the 3 that ran.
    const others: number[] = [];
    for (let i = 0; i < 3; i++) others.push((await execute((await h.user()).token)).status);
    expect(others).toEqual([200, 200, 429]);
  });

  it("limits MCP tools/call too: an isError RATE_LIMITED result, nothing run", async () => {
    await pause();
    const user = await h.user();
    const mcp = await connectMcp(h.url, user.token, "modern");
    try {
      const results = [];
      for (let i = 0; i < 4; i++) {
        results.push(await mcp.client.callTool({ name: "echo_v1", arguments: { i } }));
      }
      expect(results.map((result) => result.isError ?? false)).toEqual([false, false, false, true]);
      expect(results[3]?._meta?.["spell/error"]).toMatchObject({
        code: "RATE_LIMITED",
        details: { policy: "user", limit: 3 },
      });
    } finally {
      await mcp.close();
    }
  });

  it("does not count refusals before the spell is known (unknown spell) against the user", async () => {
    await pause();
    const user = await h.user();
    for (let i = 0; i < 4; i++) {
      const unknown = await call(h.url, "POST", "/api/spell/execute", {
        token: user.token,
        body: { spell: "nothing@v1", input: {} },
      });
      expect(unknown.status).toBe(404);
    }
    expect((await execute(user.token)).status).toBe(200);
  });

  it("does not count (or answer for) a caller whose token fails: the pipeline's 401 stands", async () => {
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await execute("not-a-token"));
    expect(answers.every((answer) => answer.status === 401)).toBe(true);
  });

  it.runIf(process.env.DATABASE_URL)("counts across two instances on one database", async () => {
    const second = await h.startInstance({ SPELL_RATE_LIMIT_USER: "3/2" });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const user = await h.user();
    const statuses = [];
    for (const url of [h.url, second.url, h.url, second.url])
      statuses.push((await execute(user.token, url)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
