import { once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { PublishInput } from "@spell/contracts";
import { SPELL_SIGNATURE_HEADER, verifySpellSignature } from "@spell/runtime-api";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Caller, type Harness, type Instance, startHarness } from "./testutil/harness.ts";
import { call } from "./testutil/http.ts";

/**
 * The api runtime as a caller meets it: spells published over REST, run over REST against a real
 * upstream on 127.0.0.1. Loopback is the only address any request here may reach; the allowlist
 * admits exactly that upstream, and only on the main instance.
 */

const SECRET_NAME = "UPSTREAM_TOKEN";
const SECRET_VALUE = "Bearer upstream-token-0123456789";

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Answers `{ got: <input> }`, or HTTP 500 while `failing`; remembers every request. */
async function startRecordingUpstream() {
  const received: Received[] = [];
  const state = { failing: false };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (state.failing) {
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ got: JSON.parse(body) }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/run`,
    host: `127.0.0.1:${port}`,
    received,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
let h: Harness;
let user: Caller;
let signingSecret: string;

const apiSpell = (slug: string, config: Record<string, unknown> = {}): PublishInput => ({
  slug,
  runtime: "api",
  artifact: { apiEndpoint: upstream.url },
  visibility: "public",
  priceAmount: 0,
  config,
});

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  h = await startHarness({
    env: {
      SPELL_SIGNING_KEY: "signing-key-for-api-runtime-tests-0123456789",
      SPELL_API_ALLOWED_HOSTS: upstream.host,
      SPELL_API_SECRETS: JSON.stringify({ [SECRET_NAME]: SECRET_VALUE }),
    },
  });
  user = await h.user("api");
  const published = await h.publish(
    apiSpell("upstream@v1", { headers: { Authorization: { secret: SECRET_NAME }, "X-Plain": "hello" } }),
  );
  signingSecret = published.body.signingSecret;
}, 60_000);
afterAll(async () => {
  await h?.close();
  await upstream?.close();
});
beforeEach(() => {
  upstream.state.failing = false;
});

const execute = (target: { url: string }, input: unknown) =>
  call(target.url, "POST", "/api/spell/execute", {
    token: user.token,
    body: { spell: "upstream@v1", input },
  });

describe("api spell against a loopback upstream", () => {
  it("publish answers a signing secret; execute answers the upstream's JSON", async () => {
    expect(signingSecret).toEqual(expect.any(String));
    expect(signingSecret.length).toBeGreaterThan(16);

    const response = await execute(h, { text: "héllo", n: [1, 2] });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      ok: true,
      spell: { slug: "upstream@v1", runtime: "api" },
      output: { got: { text: "héllo", n: [1, 2] } },
    });
  });

  it("signs the request with the spell's secret and sends the referenced server secret", async () => {
    const before = upstream.received.length;
    const response = await execute(h, { signed: true });
    expect(response.status).toBe(200);
    expect(upstream.received).toHaveLength(before + 1);
    const request = upstream.received.at(-1);
    if (!request) throw new Error("the upstream saw nothing");

    expect(request.method).toBe("POST");
    expect(JSON.parse(request.body)).toEqual({ signed: true });
    const signature = request.headers[SPELL_SIGNATURE_HEADER.toLowerCase()];
    expect(signature).toEqual(expect.stringMatching(/^t=\d+,v1=[0-9a-f]{64}$/));
    expect(verifySpellSignature(signingSecret, String(signature), request.body)).toBe(true);
    expect(verifySpellSignature(`${signingSecret}x`, String(signature), request.body)).toBe(false);
    expect(verifySpellSignature(signingSecret, String(signature), `${request.body} `)).toBe(false);

    expect(request.headers.authorization).toBe(SECRET_VALUE);
    expect(request.headers["x-plain"]).toBe("hello");
  });

  it("refuses a plain-text authorization header at publish with 422 ARTIFACT_INVALID", async () => {
    const admin = await h.admin();
    const response = await h.call("POST", "/api/admin/spells", {
      token: admin.token,
      body: apiSpell("plain-auth@v1", { headers: { authorization: "Bearer in-plain-text" } }),
    });
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({
      code: "ARTIFACT_INVALID",
      details: { reason: "config_invalid" },
    });
    expect(JSON.stringify(response.body)).not.toContain("in-plain-text");
  });

  it("an upstream 500 answers 502 RUNTIME_ERROR with details.upstreamStatus", async () => {
    upstream.state.failing = true;
    const response = await execute(h, { fail: true });
    expect(response.status).toBe(502);
    expect(response.body.error).toMatchObject({ code: "RUNTIME_ERROR", details: { upstreamStatus: 500 } });
  });
});

describe("without the allowlist, loopback is refused", () => {
  let bare: Instance;
  beforeAll(async () => {
    // The same database and signing key, with SPELL_API_ALLOWED_HOSTS removed.
    bare = await h.startInstance({ SPELL_API_ALLOWED_HOSTS: "" });
  });

  it("a stored spell pointing at loopback fails with forbidden_address and never reaches it", async () => {
    const before = upstream.received.length;
    const response = await execute(bare, { sneaky: true });
    expect(response.status).toBe(502);
    expect(response.body.error).toMatchObject({
      code: "RUNTIME_ERROR",
      details: { reason: "forbidden_address" },
    });
    expect(upstream.received.length - before).toBe(0);
  });

  it("publishing a loopback endpoint answers 422 forbidden_address", async () => {
    const admin = await h.admin();
    const response = await call(bare.url, "POST", "/api/admin/spells", {
      token: admin.token,
      body: apiSpell("loopback@v1"),
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      error: { code: "ARTIFACT_INVALID", details: { reason: "forbidden_address" } },
    });
  });
});
