import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { getResponse } from "msw";
import { createFakeStripe, type FakeStripe } from "./fake-stripe.ts";

export interface FakeStripeServer {
  fake: FakeStripe;
  /** `http://127.0.0.1:<port>`: the value for STRIPE_API_BASE. */
  url: string;
  apiBase: { host: string; port: number; protocol: "http" };
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Serves a fake Stripe over real HTTP on loopback, for tests where the SDK runs in another process
 * (two API processes sharing one Stripe) and msw in the test process cannot see its requests.
 */
export async function startFakeStripeServer(
  options: { fake?: FakeStripe; port?: number } = {},
): Promise<FakeStripeServer> {
  const fake = options.fake ?? createFakeStripe();
  const fakeOrigin = `${fake.apiBase.protocol}://${fake.apiBase.host}:${fake.apiBase.port}`;
  const server = createServer(async (req, res) => {
    try {
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === "string") headers.set(name, value);
      }
      const request = new Request(new URL(req.url ?? "/", fakeOrigin), {
        method: req.method ?? "GET",
        headers,
        ...(body ? { body } : {}),
      });
      const response = await getResponse(fake.handlers, request);
      if (!response || response.type === "error") {
        // The fake's "network" failures: drop the connection like a broken network would.
        req.socket.destroy();
        return;
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    fake,
    url: `http://127.0.0.1:${port}`,
    apiBase: { host: "127.0.0.1", port, protocol: "http" },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
