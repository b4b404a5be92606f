import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { createStripeSim, type StripeSim } from "./sim.ts";

export interface StripeSimServer {
  sim: StripeSim;
  /** `http://127.0.0.1:<port>`: the value for STRIPE_API_BASE. */
  url: string;
  /** The `stripe` SDK's `host`/`port`/`protocol` options for this server. */
  apiBase: { host: string; port: number; protocol: "http" };
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Serves the simulation's API over HTTP on loopback, for a `stripe` SDK in any process: pointed at
 * `url`, the SDK cannot tell it from Stripe. Only 127.0.0.1 listens; the hosted pages are not
 * served here but by the app (they must be reachable by a browser at the app's address).
 */
export async function startStripeSimServer(
  options: { sim?: StripeSim; port?: number } = {},
): Promise<StripeSimServer> {
  const sim = options.sim ?? createStripeSim();
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const body = req.method === "GET" || req.method === "HEAD" ? url.search.slice(1) : await readBody(req);
      const header = req.headers["idempotency-key"];
      const answer = sim.handle({
        method: req.method ?? "GET",
        path: url.pathname,
        body,
        idempotencyKey: typeof header === "string" ? header : null,
      });
      // A Stripe that stopped answering: the socket stays open until the client times out.
      if (answer.kind === "hang") return;
      if (answer.kind === "drop") {
        // A dropped connection, as a broken network would leave it: no status, no body.
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { ...answer.headers, "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    sim,
    url: `http://127.0.0.1:${port}`,
    apiBase: { host: "127.0.0.1", port, protocol: "http" },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
