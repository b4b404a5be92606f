import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { JsonObject } from "@spell/contracts";
import type { SpellRecord } from "@spell/engine";

/** A request as the test upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface TestUpstream {
  port: number;
  seen: SeenRequest[];
  /** TCP connections accepted, whether or not a request followed. */
  connections(): number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 only: the one kind of target tests may ever connect to. */
export async function startUpstream(
  handler: (request: SeenRequest, response: ServerResponse) => void,
): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      handler(request, res);
    });
  });
  let connections = 0;
  server.on("connection", () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function apiSpell(endpoint: string, config: JsonObject = {}, id = "spl_api_test"): SpellRecord {
  return {
    id,
    slug: "upstream@v1",
    runtime: "api",
    config,
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "publisher",
    artifact: { id: `art_${id}`, builtin: null, apiEndpoint: endpoint, wasmSha256: null, metadata: {} },
  };
}
