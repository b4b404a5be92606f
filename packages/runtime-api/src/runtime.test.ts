import { AppError } from "@spell/contracts";
import type { RuntimeInvocation, SpellRecord } from "@spell/engine";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiRuntime } from "./runtime.ts";
import { deriveSpellSigningSecret, verifySpellSignature } from "./signature.ts";
import { apiSpell, startUpstream, type TestUpstream } from "./testing/index.ts";

const SIGNING_KEY = "test-signing-key";
let upstream: TestUpstream;
let base: string;
let bigResponseFinished: boolean | undefined;
const runtime = createApiRuntime({
  allowedHosts: ["127.0.0.1"],
  requireHttps: false,
  secrets: { UPSTREAM_TOKEN: "s3cr3t-value" },
  signingKey: SIGNING_KEY,
});

beforeAll(async () => {
  upstream = await startUpstream((request, res) => {
    const path = new URL(request.url, "http://upstream").pathname;
    if (path === "/echo") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ received: JSON.parse(request.body), method: request.method }));
    } else if (path === "/slow") {
      // Never answers: only the runtime's deadline ends this.
    } else if (path === "/fail") {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: "boom" }));
    } else if (path === "/text") {
      res.setHeader("content-type", "text/html");
      res.end("<html>not json</html>");
    } else if (path === "/big") {
      // Streams far more than the limit without a content-length, so only counting bytes catches it.
      res.setHeader("content-type", "application/json");
      res.on("close", () => {
        bigResponseFinished = res.writableFinished;
      });
      const chunk = `"${"x".repeat(64 * 1024)}",`;
      let sent = 0;
      const pump = () => {
        while (sent < 256 && !res.destroyed) {
          sent++;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        if (!res.destroyed) res.end("0]");
      };
      res.write("[");
      pump();
    } else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  base = `http://127.0.0.1:${upstream.port}`;
});

afterAll(async () => {
  await runtime.close();
  await upstream.close();
});

function invocation(spell: SpellRecord, input: Record<string, unknown> = { text: "hi" }): RuntimeInvocation {
  return { executionId: "exe_123", spell, input };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe("api runtime", () => {
  it("posts the input as signed JSON and returns the upstream's JSON as output", async () => {
    const spell = apiSpell(`${base}/echo`, {}, "spl_echo");
    const result = await runtime.run(invocation(spell, { text: "hello", n: 2 }));

    expect(result.output).toEqual({ received: { text: "hello", n: 2 }, method: "POST" });
    const seen = upstream.seen.at(-1);
    expect(seen?.headers["content-type"]).toBe("application/json");
    expect(seen?.headers["spell-execution-id"]).toBe("exe_123");
    const signature = seen?.headers["spell-signature"];
    expect(typeof signature).toBe("string");
    const secret = deriveSpellSigningSecret(SIGNING_KEY, "spl_echo");
    expect(verifySpellSignature(secret, signature as string, seen?.body ?? "")).toBe(true);
    expect(
      verifySpellSignature(
        deriveSpellSigningSecret(SIGNING_KEY, "spl_other"),
        signature as string,
        seen?.body ?? "",
      ),
    ).toBe(false);
  });

  it("uses the configured method and resolves secret headers from server configuration", async () => {
    const config = {
      method: "PUT",
      headers: { Authorization: { secret: "UPSTREAM_TOKEN" }, "X-Tenant": "acme" },
    };
    const spell = apiSpell(`${base}/echo`, config);
    const result = await runtime.run(invocation(spell));

    expect(result.output).toMatchObject({ method: "PUT" });
    const seen = upstream.seen.at(-1);
    expect(seen?.headers.authorization).toBe("s3cr3t-value");
    expect(seen?.headers["x-tenant"]).toBe("acme");
    expect(JSON.stringify(spell.config)).not.toContain("s3cr3t-value");
  });

  it("refuses a spell whose secret is not configured, without calling the upstream", async () => {
    const before = upstream.seen.length;
    const spell = apiSpell(`${base}/echo`, { headers: { "x-api-key": { secret: "MISSING" } } });
    const error = await failure(runtime.run(invocation(spell)));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toEqual({ reason: "unknown_secret", secret: "MISSING" });
    expect(upstream.seen.length).toBe(before);
  });

  it("ends a slow upstream with RUNTIME_TIMEOUT at the spell's timeout", async () => {
    const spell = apiSpell(`${base}/slow`, { timeoutMs: 200 });
    const started = performance.now();
    const error = await failure(runtime.run(invocation(spell)));
    expect(error.code).toBe("RUNTIME_TIMEOUT");
    expect(error.details).toEqual({ timeoutMs: 200 });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it.each([
    ["an upstream 500", "/fail", { reason: "upstream_status", upstreamStatus: 500 }],
    ["an unknown path (404)", "/missing", { reason: "upstream_status", upstreamStatus: 404 }],
    ["a non-JSON body", "/text", { reason: "non_json", upstreamStatus: 200 }],
  ])("answers %s with RUNTIME_ERROR", async (_name, path, details) => {
    const error = await failure(runtime.run(invocation(apiSpell(`${base}${path}`))));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toEqual(details);
  });

  it("stops reading a response over maxResponseBytes and drops the connection", async () => {
    const error = await failure(runtime.run(invocation(apiSpell(`${base}/big`, { maxResponseBytes: 1024 }))));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toEqual({
      reason: "response_too_large",
      upstreamStatus: 200,
      maxResponseBytes: 1024,
    });
    await expect.poll(() => bigResponseFinished).toBe(false);
  });

  it("refuses plain http when https is required, without calling the upstream", async () => {
    const strict = createApiRuntime({
      allowedHosts: ["127.0.0.1"],
      requireHttps: true,
      secrets: {},
      signingKey: "k",
    });
    const before = upstream.seen.length;
    const error = await failure(strict.run(invocation(apiSpell(`${base}/echo`))));
    await strict.close();
    expect(error.details).toEqual({ reason: "https_required" });
    expect(upstream.seen.length).toBe(before);
  });
});
