import { appRouter } from "@spell/api";
import * as contracts from "@spell/contracts";
import { ERROR_CODES, ERROR_STATUS, type ProcedureContract } from "@spell/contracts";
import fc from "fast-check";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Caller, type Harness, signToken, startHarness } from "../testutil/harness.ts";
import { fitting, mutated } from "./arbitraries.ts";

/**
 * Property-based fuzzing of every procedure on both transports, generated from the contracts: any
 * input, any token, and the server only ever answers 2xx or 4xx, every error in the unified body
 * with a known code and its status, and a request refused before the pipeline changes nothing.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const KNOWN = new Set<string>(ERROR_CODES);
/** Refusals that must leave no trace: nothing stored, charged or run. */
const TRACELESS = new Set([
  "VALIDATION_ERROR",
  "MALFORMED_JSON",
  "UNAUTHORIZED",
  "USER_BANNED",
  "FORBIDDEN",
  "VISIBILITY_DENIED",
  "SPELL_NOT_FOUND",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "IDEMPOTENCY_CONFLICT",
]);

interface Target {
  trpcPath: string;
  type: "query" | "mutation";
  contract: ProcedureContract;
  schema: Parameters<typeof fitting>[0];
}

const allContracts = (Object.values(contracts) as unknown[]).filter(
  (value): value is ProcedureContract =>
    typeof value === "object" && value !== null && "route" in value && "input" in value && "errors" in value,
);

function targets(): Target[] {
  const procedures = appRouter._def.procedures as unknown as Record<
    string,
    { _def: { type: "query" | "mutation"; meta?: { openapi?: { path: string } } } }
  >;
  return Object.entries(procedures).flatMap(([trpcPath, procedure]) => {
    const contract = allContracts.find((c) => c.route.path === procedure._def.meta?.openapi?.path);
    if (!contract) return [];
    const schema = z.toJSONSchema(contract.input, {
      io: "input",
      unrepresentable: "any",
    }) as Target["schema"];
    return [{ trpcPath, type: procedure._def.type, contract, schema }];
  });
}

let h: Harness;
let tokens: string[];
let banned: Caller;

async function forgedTokens(): Promise<string[]> {
  const wrongKey = new TextEncoder().encode("not-the-issuer-secret-0123456789abcdef");
  const forged = await new SignJWT({ sub: "mallory" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("https://users.test")
    .setAudience("spell")
    .setExpirationTime("1h")
    .sign(wrongKey);
  // Trailing spaces are trimmed by fetch: "" becomes a bare "Bearer", a missing token.
  const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"x","iss":"https://users.test","aud":"spell"}').toString("base64url")}.`;
  return [forged, none, "garbage", "x"];
}

async function counts(): Promise<string> {
  const rows = await h.testDb.database.prisma.$queryRawUnsafe<Array<Record<string, bigint>>>(
    `select (select count(*) from executions) e, (select count(*) from billing_records) b,
            (select count(*) from spells) s, (select count(*) from artifacts) a,
            (select count(*) from bans) n, (select count(*) from team_members) t`,
  );
  return JSON.stringify(rows[0], (_key, value) => (typeof value === "bigint" ? Number(value) : value));
}

async function send(target: Target, transport: "rest" | "trpc", token: string, input: unknown) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const { method, path } = target.contract.route;
  let url: string;
  let init: RequestInit;
  if (transport === "rest") {
    const query =
      method === "GET" && input && typeof input === "object" && !Array.isArray(input)
        ? `?${new URLSearchParams(Object.entries(input).map(([k, v]): [string, string] => [k, typeof v === "string" ? v : (JSON.stringify(v) ?? "")]))}`
        : "";
    url = `${h.url}/api${path}${query}`;
    init = method === "GET" ? { headers } : { method, headers, body: JSON.stringify(input) ?? "null" };
  } else if (target.type === "query") {
    url = `${h.url}/trpc/${target.trpcPath}?input=${encodeURIComponent(JSON.stringify(input) ?? "null")}`;
    init = { headers };
  } else {
    url = `${h.url}/trpc/${target.trpcPath}`;
    init = { method: "POST", headers, body: JSON.stringify(input) ?? "null" };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, type: response.headers.get("content-type") ?? "", text };
}

/** The Spell error code of an error answer, or a description of what is wrong with its shape. */
function errorCodeOf(transport: "rest" | "trpc", status: number, body: unknown): string {
  const b = body as {
    ok?: unknown;
    error?: { code?: unknown; message?: unknown; details?: unknown; data?: Record<string, unknown> };
  };
  // The HTTP parser refuses (431, 408) before any route, so the body is the unified REST one there.
  if (transport === "rest" || b.ok === false) {
    expect(b.ok).toBe(false);
    expect(typeof b.error?.message).toBe("string");
    expect(typeof b.error?.details).toBe("object");
    const code = String(b.error?.code);
    expect(KNOWN.has(code), code).toBe(true);
    expect(ERROR_STATUS[code as keyof typeof ERROR_STATUS]).toBe(status);
    return code;
  }
  const data = b.error?.data ?? {};
  const code = String(data.code);
  expect(KNOWN.has(code), code).toBe(true);
  expect(data.httpStatus).toBe(status);
  expect(typeof data.details).toBe("object");
  return code;
}

beforeAll(async () => {
  // Local billing (the real Stripe adapter against the simulation), so billing procedures answer
  // as in the quick start rather than 501 BILLING_NOT_CONFIGURED.
  h = await startHarness({ env: { SPELL_BILLING: "local" } });
  const alice = await h.user("fuzz");
  const admin = await h.admin();
  banned = await h.user("banned");
  await h.call("POST", "/api/admin/ban", { token: admin.token, body: { userId: banned.id, reason: "fuzz" } });
  tokens = [alice.token, alice.token, admin.token, banned.token, ...(await forgedTokens())];
}, 120_000);
afterAll(async () => h?.close());

describe("fuzzing every procedure from its contract", () => {
  it(`answers ${RUNS} generated requests with 2xx/4xx only, errors in the unified body, refusals traceless`, async () => {
    const all = targets();
    expect(all.length).toBeGreaterThanOrEqual(10);
    const stats = { requests: 0, ok: 0, refused: 0 };
    const request = fc.record({
      // By path, so a counterexample prints as a name and not as a zod schema.
      path: fc.constantFrom(...all.map((target) => target.trpcPath)),
      transport: fc.constantFrom("rest" as const, "trpc" as const),
      token: fc.constantFrom(...tokens.keys()),
      hostile: fc.boolean(),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(request, async ({ path, transport, token, hostile, seed }) => {
        const target = all.find((candidate) => candidate.trpcPath === path) as Target;
        const [input] = fc.sample(hostile ? mutated(target.schema) : fitting(target.schema), {
          seed,
          numRuns: 1,
        });
        const before = await counts();
        const answer = await send(target, transport, tokens[token] ?? "", input);
        stats.requests++;
        // 501 BILLING_NOT_CONFIGURED is this server's deliberate answer for a billing feature it was
        // not configured with (prepaid routes on a per-use server), like a 404 — not a failure.
        const deliberate = answer.status === 501 && answer.text.includes('"BILLING_NOT_CONFIGURED"');
        if (!deliberate) {
          expect(answer.status, `${transport} ${target.trpcPath} ${answer.text.slice(0, 300)}`).toBeLessThan(
            500,
          );
        }
        expect(answer.type, `${answer.status} ${transport} ${path} ${answer.text.slice(0, 200)}`).toContain(
          "application/json",
        );
        const body = JSON.parse(answer.text);
        if (answer.status < 300) {
          stats.ok++;
          return;
        }
        stats.refused++;
        const code = errorCodeOf(transport, answer.status, body);
        if (TRACELESS.has(code)) expect(await counts(), `${code} changed state`).toBe(before);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261201), endOnFailure: true },
    );
    expect(stats.requests).toBe(RUNS);
    // Both kinds must really have been exercised, or the property proved nothing.
    expect(stats.ok).toBeGreaterThan(RUNS / 50);
    expect(stats.refused).toBeGreaterThan(RUNS / 10);
    const healthy = await fetch(`${h.url}/healthz`);
    expect(healthy.status).toBe(200);
  }, 600_000);
});

describe("forged and odd tokens", () => {
  it("answers 50+ of them 401 on every route, with zero database writes", async () => {
    const valid = await signToken("victim");
    const [header, payload] = valid.split(".");
    const odd = [
      ...(await forgedTokens()),
      `${header}.${payload}.`,
      `${header}.${payload}.AAAA`,
      `${header}..${valid.split(".")[2]}`,
      valid.slice(0, -2),
      `${valid}x`,
      valid.toUpperCase(),
      "Bearer",
      "a.b.c",
      "a.b",
      ".",
      "..",
      "...",
      "x".repeat(10_000),
      // fetch refuses control characters and non-Latin-1 in headers; their escaped forms still travel.
      "%00",
      encodeURIComponent("🔑"),
      ...Array.from(
        { length: 20 },
        (_, i) =>
          `${header}.${Buffer.from(JSON.stringify({ sub: `u${i}`, iss: "https://users.test", aud: "spell", exp: 9e9 })).toString("base64url")}.${valid.split(".")[2]}`,
      ),
      ...Array.from({ length: 16 }, (_, i) => Buffer.from(`junk-${i}`).toString("base64url")),
    ];
    expect(odd.length).toBeGreaterThanOrEqual(50);
    const usersBefore = await h.testDb.database.prisma.user.count();
    const before = await counts();
    for (const token of odd) {
      for (const [method, path, body] of [
        ["POST", "/api/spell/execute", { spell: "echo@v1", input: {} }],
        ["GET", "/api/me", undefined],
        ["POST", "/api/admin/ban", { userId: "x", reason: "y" }],
      ] as const) {
        const response = await fetch(`${h.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect(response.status, `${path} ${token.slice(0, 40)}`).toBe(401);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
      }
    }
    expect(await h.testDb.database.prisma.user.count()).toBe(usersBefore);
    expect(await counts()).toBe(before);
  }, 120_000);
});
