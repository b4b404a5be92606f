import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken, USER_ISSUER } from "../testutil/harness.ts";

/**
 * The real server process (`src/main.ts`, as `pnpm start` runs it) with and without
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, exporting to a loopback OTLP/HTTP (JSON) receiver. A preload
 * reports at exit how many OpenTelemetry SDK and instrumentation modules were loaded, so "off" is shown, not assumed.
 */

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

interface Receiver {
  url: string;
  spans: OtlpSpan[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
        };
        for (const resource of body.resourceSpans ?? []) {
          for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface Api {
  url: string;
  /** Sends SIGTERM and resolves with the count of OpenTelemetry SDK/instrumentation modules loaded at exit. */
  stop(): Promise<number>;
}

let dir: string;
let preload: string;
const children: ChildProcess[] = [];

async function startApi(extraEnv: Record<string, string>, dataDir: string): Promise<Api> {
  const child = spawn(
    process.execPath,
    ["--conditions=@spell/source", "--import", TSX, "--import", pathToFileURL(preload).href, MAIN],
    {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_ENV: "test",
        PORT: "0",
        HOST: "127.0.0.1",
        SPELL_DATA_DIR: dataDir,
        SPELL_LOG_LEVEL: "warn",
        SPELL_TRUSTED_ISSUERS: JSON.stringify([
          { issuer: USER_ISSUER.issuer, secret: USER_ISSUER.secret, namespace: "" },
        ]),
        SPELL_WASM_WORKERS: "1",
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let log = "";
  const exited = new Promise<number>((resolve, reject) => {
    child.once("exit", () => {
      const match = /otel-modules=(\d+)/.exec(log);
      if (match?.[1]) resolve(Number(match[1]));
      else reject(new Error(`no module report at exit:\n${log}`));
    });
  });
  exited.catch(() => {});
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(log);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`api exited with ${code} before listening:\n${log}`)));
  });
  return {
    url,
    stop: () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

async function execute(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/spell/execute`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await signToken("tracer")}`,
      "content-type": "application/json",
      ...headers,
    },
    body: JSON.stringify({ spell: "echo@v1", input: { hello: "traces" } }),
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spell-tracing-"));
  preload = join(dir, "report-otel-modules.mjs");
  await writeFile(
    preload,
    [
      'import { createRequire } from "node:module";',
      "const cache = createRequire(import.meta.url).cache;",
      'process.on("exit", () => {',
      "  const n = Object.keys(cache).filter((k) => /[\\/]@opentelemetry[\\/](sdk-|instrumentation)/.test(k)).length;",
      '  process.stderr.write("otel-modules=" + n + "\\n");',
      "});",
    ].join("\n"),
  );
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

describe("tracing (OpenTelemetry)", () => {
  it("exports the request's spans under the incoming traceparent's trace id", async () => {
    const receiver = await startReceiver();
    try {
      const api = await startApi(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_BSP_SCHEDULE_DELAY: "50",
        },
        join(dir, "on"),
      );
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const parent = "00f067aa0ba902b7";
      const response = await execute(api.url, { traceparent: `00-${traceId}-${parent}-01` });
      expect(response.status).toBe(200);

      await expect
        .poll(() => receiver.spans.filter((span) => span.traceId === traceId).length, { timeout: 10_000 })
        .toBeGreaterThan(0);
      const ours = receiver.spans.filter((span) => span.traceId === traceId);
      // The http server span is the child of the caller's span; the rest hang below it.
      const root = ours.find((span) => span.parentSpanId === parent);
      expect(root?.name).toMatch(/^POST/);
      // Its children: the token check (a manual span) and the database (pg); the exporter batches,
      // so they may come a moment later.
      await expect
        .poll(() => receiver.spans.filter((span) => span.traceId === traceId).map((span) => span.name), {
          timeout: 10_000,
        })
        .toEqual(expect.arrayContaining(["spell.token", expect.stringMatching(/^pg\.query/)]));
      // Start-up queries (migrations) belong to no request and are not traced.
      expect(receiver.spans.every((span) => span.traceId === traceId)).toBe(true);

      expect(await api.stop()).toBeGreaterThan(0);
    } finally {
      await receiver.close();
    }
  }, 60_000);

  it("loads no OpenTelemetry module without OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const api = await startApi({}, join(dir, "off"));
    expect((await execute(api.url)).status).toBe(200);
    expect(await api.stop()).toBe(0);
  }, 60_000);
});
