import { startStripeSimServer } from "@spell/stripe-sim";
import { createFakeStripe, type FakeStripe } from "./fake-stripe.ts";

export interface FakeStripeServer {
  fake: FakeStripe;
  /** `http://127.0.0.1:<port>`: the value for STRIPE_API_BASE. */
  url: string;
  apiBase: { host: string; port: number; protocol: "http" };
  close(): Promise<void>;
}

/**
 * Serves a fake Stripe over real HTTP on loopback, for tests where the SDK runs in another process
 * (two API processes sharing one Stripe) and msw in the test process cannot see its requests.
 */
export async function startFakeStripeServer(
  options: { fake?: FakeStripe; port?: number } = {},
): Promise<FakeStripeServer> {
  const fake = options.fake ?? createFakeStripe();
  const server = await startStripeSimServer({
    sim: fake,
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  return { fake, url: server.url, apiBase: server.apiBase, close: server.close };
}
