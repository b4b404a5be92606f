import {
  createGuardedConnector,
  DnsFailureError,
  type DnsLookupAll,
  ForbiddenAddressError,
  type HostAllowlist,
} from "@spell/runtime-api";
import { Agent } from "undici";

/**
 * Webhook receivers are reached through the api runtime's own guarded connector, so both follow one
 * SSRF policy: every address a name resolves to is checked at each delivery and the socket connects
 * to that checked address (a second DNS answer cannot slip in between). The allowlist admits by the
 * name in the URL, never by what a name resolves to: an allow-listed `127.0.0.1` does not admit a
 * name that resolves there.
 */
export function createReceiverAgent(options: {
  allowlist: HostAllowlist;
  lookup?: DnsLookupAll | undefined;
  timeoutMs: number;
}): Agent {
  return new Agent({
    connect: createGuardedConnector({
      allowlist: options.allowlist,
      lookup: options.lookup,
      connectTimeoutMs: options.timeoutMs,
    }),
    // A receiver's keep-alive socket is not worth holding between rare deliveries.
    keepAliveTimeout: 1_000,
  });
}

/** undici wraps connector errors on some paths; look a few levels down the `cause` chain. */
function findCause<T extends Error>(error: unknown, type: new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if (current instanceof type) return current;
    current = current.cause;
  }
  return undefined;
}

/** The guard refused the receiver's address: the delivery is `refused` and never attempted again. */
export function guardRefusal(error: unknown): ForbiddenAddressError | undefined {
  return findCause(error, ForbiddenAddressError);
}

/** A failed lookup, with the resolver's code (`ENOTFOUND`…) the guard keeps only as its cause. */
export function dnsFailure(error: unknown): string | undefined {
  const failure = findCause(error, DnsFailureError);
  if (failure === undefined) return undefined;
  const code = (failure.cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? `${code}: ${failure.message}` : failure.message;
}
