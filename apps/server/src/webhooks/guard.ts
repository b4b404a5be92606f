import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { type DnsLookupAll, isForbiddenAddress } from "@spell/runtime-api";
import { buildConnector } from "undici";

/**
 * Webhook receivers go through the api runtime's SSRF policy (`isForbiddenAddress`): every address
 * a name resolves to is checked, and the socket connects to the checked address itself, so a second
 * DNS answer cannot slip in between. The shape follows `@spell/runtime-api`'s guarded connector,
 * which that package does not export.
 */

/** Hosts (`host` or `host:port`, IPv6 bare or bracketed) admitted though they are internal; tests only. */
export class WebhookHostAllowlist {
  readonly #entries = new Set<string>();

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === "") continue;
      const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
      if (bracketed?.[1] !== undefined) this.#entries.add(key(bracketed[1], bracketed[2]));
      else if (entry.split(":").length === 2) {
        const [host = "", port] = entry.split(":");
        this.#entries.add(key(host, port));
      } else this.#entries.add(key(entry, undefined));
    }
  }

  admits(hostname: string, port: number): boolean {
    const host = bare(hostname).toLowerCase().replace(/\.$/, "");
    return this.#entries.has(key(host, undefined)) || this.#entries.has(key(host, String(port)));
  }
}

function key(host: string, port: string | undefined): string {
  return port === undefined ? host : `${host}:${Number(port)}`;
}

function bare(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The receiver resolved to (or is) an address the policy refuses: the delivery is not attempted again. */
export class WebhookForbiddenAddressError extends Error {
  override readonly name = "WebhookForbiddenAddressError";
  constructor(readonly hostname: string) {
    super(`Refused to connect to ${hostname}: it resolves to a forbidden address`);
  }
}

function lookupAll(lookup: DnsLookupAll, hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (error, addresses) => {
      if (error) reject(new Error(`Could not resolve ${hostname} (${error.code ?? "error"})`));
      else resolve(addresses);
    });
  });
}

/** The checked address to connect to; one forbidden answer among several refuses the host. */
export async function resolveReceiver(
  hostname: string,
  port: number,
  allowlist: WebhookHostAllowlist,
  lookup: DnsLookupAll,
): Promise<string> {
  const host = bare(hostname);
  const admitted = allowlist.admits(host, port);
  if (isIP(host) !== 0) {
    if (!admitted && isForbiddenAddress(host)) throw new WebhookForbiddenAddressError(host);
    return host;
  }
  const addresses = await lookupAll(lookup, host);
  const first = addresses[0];
  if (first === undefined) throw new Error(`Could not resolve ${host}`);
  if (!admitted && addresses.some((address) => isForbiddenAddress(address.address))) {
    throw new WebhookForbiddenAddressError(host);
  }
  return first.address;
}

/** An undici connector that connects only to checked addresses (TLS still verifies the original name). */
export function createReceiverConnector(options: {
  allowlist: WebhookHostAllowlist;
  lookup?: DnsLookupAll | undefined;
  connectTimeoutMs: number;
}): buildConnector.connector {
  const lookup: DnsLookupAll = options.lookup ?? (dnsLookup as DnsLookupAll);
  const connect = buildConnector({ timeout: options.connectTimeoutMs });
  return (connectOptions, callback) => {
    const port = Number(connectOptions.port) || (connectOptions.protocol === "https:" ? 443 : 80);
    resolveReceiver(connectOptions.hostname, port, options.allowlist, lookup).then(
      (address) => {
        try {
          connect({ ...connectOptions, hostname: address }, callback);
        } catch (error) {
          callback(error instanceof Error ? error : new Error(String(error)), null);
        }
      },
      (error: Error) => callback(error, null),
    );
  };
}
