import { stripeError } from "./errors.ts";
import type { SimResult, StripeSimState } from "./state.ts";

/**
 * Stripe's idempotency: a POST with a key seen before replays the saved response (status and
 * body as first sent) without doing anything; the same key with other parameters is a 400.
 */
export function createIdempotency(state: StripeSimState, limit = Number.POSITIVE_INFINITY) {
  return {
    /** The saved answer (`replayed`), a conflict error, or undefined for a key not seen yet. */
    replay(key: string, requestSignature: string): { result: SimResult; replayed: boolean } | undefined {
      const saved = state.idempotency.get(key);
      if (!saved) return undefined;
      if (saved.requestSignature !== requestSignature) {
        const result = stripeError(400, {
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          type: "idempotency_error",
        });
        return { result, replayed: false };
      }
      return { result: { status: saved.status, body: saved.body }, replayed: true };
    },
    save(key: string, requestSignature: string, result: SimResult): void {
      state.idempotency.set(key, { requestSignature, status: result.status, body: result.body });
      // A Map iterates in insertion order: the first key is the oldest.
      if (state.idempotency.size > limit) {
        const oldest = state.idempotency.keys().next().value;
        if (oldest !== undefined) state.idempotency.delete(oldest);
      }
    },
  };
}
