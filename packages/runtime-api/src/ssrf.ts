import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { buildConnector } from "undici";

/** A DNS lookup returning every address, shaped like `dns.lookup(host, { all: true }, cb)`. */
export type DnsLookupAll = (
  hostname: string,
  options: { all: true },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * Addresses refused even though their range would be admitted, because clouds answer credentials
 * there. All of them also fall in refused ranges; they are listed so the intent survives edits.
 */
const CLOUD_METADATA = new Set(["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"]);

/** The only IPv6 block handed out as global unicast (2000::/3); everything else is special-purpose. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

/**
 * Whether an upstream may never be reached at this address: anything but global unicast. IPv4 is
 * admitted only in ipaddr.js's `unicast` range (so loopback, RFC 1918, CGNAT, link-local, multicast,
 * broadcast, 0/8 and reserved blocks are refused); IPv6 forms that embed an IPv4 address (mapped,
 * compatible, NAT64 64:ff9b::/96, 6to4) are judged by that IPv4 address. Unparsable input is refused.
 */
export function isForbiddenAddress(address: string): boolean {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return true;
  const parsed = ipaddr.parse(bare);
  if (CLOUD_METADATA.has(parsed.toNormalizedString()) || CLOUD_METADATA.has(parsed.toString())) return true;
  if (parsed.kind() === "ipv4") return (parsed as ipaddr.IPv4).range() !== "unicast";
  const v6 = parsed as ipaddr.IPv6;
  if (v6.zoneId !== undefined) return true;
  const embedded = embeddedIPv4(v6);
  if (embedded !== undefined) return isForbiddenAddress(embedded.toString());
  return v6.range() !== "unicast" || !v6.match(GLOBAL_UNICAST_V6);
}

/** The IPv4 address an IPv6 address stands for, where the packet would in effect go to it. */
function embeddedIPv4(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = v6.parts;
  const fromWords = (high: number, low: number) =>
    new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  const [p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0] = p;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  // ::a.b.c.d (deprecated IPv4-compatible) — but :: and ::1 are their own special addresses.
  if (p0 === 0 && p1 === 0 && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0 && (p6 !== 0 || p7 > 1)) {
    return fromWords(p6, p7);
  }
  // NAT64 well-known prefix: a DNS64 resolver maps every IPv4 answer here, public ones included.
  if (p0 === 0x64 && p1 === 0xff9b && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0) return fromWords(p6, p7);
  if (p0 === 0x2002) return fromWords(p1, p2);
  return undefined;
}

/** Refusal raised inside the connector; the runtime maps it to RUNTIME_ERROR without the address. */
export class ForbiddenAddressError extends Error {
  override readonly name = "ForbiddenAddressError";
  constructor(readonly hostname: string) {
    super(`Refused to connect to ${hostname}: it resolves to a forbidden address`);
  }
}

export class DnsFailureError extends Error {
  override readonly name = "DnsFailureError";
  constructor(
    readonly hostname: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not resolve ${hostname}`, options);
  }
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * The allowlist as entries `host` (any port) or `host:port`, lowercased, IPv6 without brackets
 * (`[::1]:8080` or `::1`).
 */
export class HostAllowlist {
  readonly #hosts = new Set<string>();
  readonly #hostPorts = new Set<string>();

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === "") continue;
      const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
      if (bracketed?.[1] !== undefined) {
        this.#add(bracketed[1], bracketed[2]);
      } else if (entry.split(":").length === 2) {
        const [host = "", port] = entry.split(":");
        this.#add(host, port);
      } else {
        this.#add(entry, undefined);
      }
    }
  }

  #add(host: string, port: string | undefined): void {
    if (port === undefined) this.#hosts.add(host);
    else this.#hostPorts.add(`${host}:${Number(port)}`);
  }

  admits(hostname: string, port: number): boolean {
    const host = stripBrackets(hostname).toLowerCase().replace(/\.$/, "");
    return this.#hosts.has(host) || this.#hostPorts.has(`${host}:${port}`);
  }
}

function lookupAll(lookup: DnsLookupAll, hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { all: true }, (error, addresses) => {
      if (error) reject(new DnsFailureError(hostname, { cause: error }));
      else resolve(addresses);
    });
  });
}

/**
 * The address to connect to for `hostname`. Every resolved address is checked and the one returned
 * is what the socket connects to, so a second DNS answer (rebinding) can never slip in between the
 * check and the connection. One forbidden answer refuses the host: mixing a public and an internal
 * address is the usual way to win a race against a guard that checks only one.
 */
export async function resolveCheckedAddress(
  hostname: string,
  port: number,
  allowlist: HostAllowlist,
  lookup: DnsLookupAll,
): Promise<string> {
  const host = stripBrackets(hostname);
  const admitted = allowlist.admits(host, port);
  if (isIP(host) !== 0) {
    if (!admitted && isForbiddenAddress(host)) throw new ForbiddenAddressError(host);
    return host;
  }
  const addresses = await lookupAll(lookup, host);
  const first = addresses[0];
  if (first === undefined) throw new DnsFailureError(host);
  if (!admitted && addresses.some((a) => isForbiddenAddress(a.address)))
    throw new ForbiddenAddressError(host);
  return first.address;
}

/**
 * An undici connector that resolves and checks the host itself, then hands the checked IP literal to
 * undici's own connector (which then does no DNS of its own). TLS still verifies the certificate
 * against the original name: undici derives `servername` from `host`, which is left untouched.
 */
export function createGuardedConnector(options: {
  allowlist: HostAllowlist;
  lookup?: DnsLookupAll;
  connectTimeoutMs: number;
}): buildConnector.connector {
  const lookup: DnsLookupAll = options.lookup ?? (dnsLookup as DnsLookupAll);
  const connect = buildConnector({ timeout: options.connectTimeoutMs });
  return (connectOptions, callback) => {
    const port = Number(connectOptions.port) || (connectOptions.protocol === "https:" ? 443 : 80);
    resolveCheckedAddress(connectOptions.hostname, port, options.allowlist, lookup).then(
      (address) => {
        try {
          connect({ ...connectOptions, hostname: address }, callback);
        } catch (error) {
          // Thrown synchronously (bad options): without this the request would hang until its deadline.
          callback(error instanceof Error ? error : new Error(String(error)), null);
        }
      },
      (error: Error) => callback(error, null),
    );
  };
}
