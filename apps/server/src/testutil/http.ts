import { once } from "node:events";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HTTP_SERVER_OPTIONS, hardenHttpServer } from "../http/limits.ts";

export interface Listening {
  url: string;
  close(): Promise<void>;
}

/** Listens on an ephemeral loopback port, with the production server's HTTP limits. */
export async function listen(app: RequestListener): Promise<Listening> {
  const server: Server = createServer(HTTP_SERVER_OPTIONS, app);
  hardenHttpServer(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Listens first and serves `app` once it is set: the local test provider needs the server's URL
 * before the app exists (503 until then).
 */
export async function listenFirst(): Promise<Listening & { serve(app: RequestListener): void }> {
  let handler: RequestListener | undefined;
  const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  // Tests meet the same edge as production: parser refusals and slow clients answered in JSON.
  hardenHttpServer(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    serve: (app) => {
      handler = app;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
  body: any;
}

/** One HTTP call; `body` objects are sent as JSON, strings as they are. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  Object.assign(headers, options.headers);
  const response = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, headers: response.headers, body: parsed };
}
