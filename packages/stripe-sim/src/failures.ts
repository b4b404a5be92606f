import { stripeError } from "./errors.ts";
import type { FailureKind, SimResult, StripeSimState } from "./state.ts";

/**
 * Whether a planned failure's path names this request's: exact, or with `*` standing for one path
 * segment (`/v1/payment_intents/` + `*` + `/capture` fails the next capture, whatever its intent).
 */
function pathMatches(pattern: string, path: string): boolean {
  if (!pattern.includes("*")) return pattern === path;
  const want = pattern.split("/");
  const got = path.split("/");
  return want.length === got.length && want.every((segment, i) => segment === "*" || segment === got[i]);
}

/** Failure injection: the next requests to a path fail the way Stripe or the network can. */
export function createFailures(state: StripeSimState) {
  return {
    failNext(path: string, kind: FailureKind, times = 1): void {
      for (let i = 0; i < times; i++) state.failures.push({ path, kind });
    },
    /** The failure planned for this request, consumed. */
    take(path: string): FailureKind | undefined {
      const index = state.failures.findIndex((failure) => pathMatches(failure.path, path));
      return index >= 0 ? state.failures.splice(index, 1)[0]?.kind : undefined;
    },
    /** Stripe's answer for a failure that happens before the request is processed, if it answers at all. */
    answerFor(kind: FailureKind): SimResult | undefined {
      if (kind === "500")
        return stripeError(500, { message: "An unknown error occurred", type: "api_error" });
      if (kind === "429") {
        return stripeError(429, {
          code: "rate_limit",
          message: "Too many requests hit the API too quickly.",
          type: "invalid_request_error",
        });
      }
      return undefined;
    },
  };
}
