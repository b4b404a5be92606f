import { createStripeSim, type StripeSim } from "@spell/stripe-sim";
import { delay, type HttpHandler, HttpResponse, http } from "msw";

export type {
  FailureKind,
  RecordedRequest,
  StripeSimState as FakeStripeState,
} from "@spell/stripe-sim";

/**
 * The Stripe simulation (`@spell/stripe-sim`) behind msw, for tests that intercept the `stripe`
 * SDK in their own process: every request the SDK sends to `baseUrl` is answered by the simulation.
 */
export type FakeStripe = StripeSim & {
  handlers: HttpHandler[];
  /** The SDK options that point at this fake (`apiBase` of createStripeBilling). */
  apiBase: { host: string; port: number; protocol: "http" | "https" };
};

export function createFakeStripe(options: { baseUrl?: string } = {}): FakeStripe {
  const base = new URL(options.baseUrl ?? "https://api.stripe.com");
  const protocol = base.protocol === "http:" ? "http" : "https";
  const sim = createStripeSim();
  const handler = http.all(`${base.origin}/v1/*`, async ({ request }) => {
    const url = new URL(request.url);
    const answer = sim.handle({
      method: request.method,
      path: url.pathname,
      body: request.method === "GET" ? url.search.slice(1) : await request.text(),
      idempotencyKey: request.headers.get("idempotency-key"),
    });
    if (answer.kind === "drop") return HttpResponse.error();
    if (answer.kind === "hang") {
      // Held until the SDK's own timeout gives up on it.
      await delay("infinite");
      return HttpResponse.error();
    }
    return HttpResponse.json(answer.body, { status: answer.status, headers: answer.headers });
  });
  return {
    ...sim,
    handlers: [handler],
    apiBase: {
      host: base.hostname,
      port: base.port ? Number(base.port) : protocol === "http" ? 80 : 443,
      protocol,
    },
  };
}
