import type { LookupAddress } from "node:dns";
import { describe, expect, it } from "vitest";
import {
  DnsFailureError,
  type DnsLookupAll,
  ForbiddenAddressError,
  HostAllowlist,
  isForbiddenAddress,
  resolveCheckedAddress,
} from "./ssrf.ts";

describe("isForbiddenAddress", () => {
  it.each([
    ["127.0.0.1", "IPv4 loopback"],
    ["127.8.9.10", "anywhere in 127/8"],
    ["::1", "IPv6 loopback"],
    ["[::1]", "bracketed IPv6 loopback"],
    ["0.0.0.0", "unspecified IPv4"],
    ["0.1.2.3", "this-network 0/8"],
    ["::", "unspecified IPv6"],
    ["10.0.0.1", "RFC 1918 10/8"],
    ["172.16.0.1", "RFC 1918 172.16/12 low end"],
    ["172.31.255.254", "RFC 1918 172.16/12 high end"],
    ["192.168.1.1", "RFC 1918 192.168/16"],
    ["100.64.0.1", "CGNAT 100.64/10"],
    ["100.100.100.200", "Alibaba metadata"],
    ["169.254.169.254", "AWS/GCP/Azure metadata"],
    ["169.254.1.1", "IPv4 link-local"],
    ["fe80::1", "IPv6 link-local"],
    ["fe80::1%eth0", "IPv6 link-local with zone"],
    ["224.0.0.1", "IPv4 multicast"],
    ["ff02::1", "IPv6 multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved 240/4"],
    ["192.0.2.10", "documentation TEST-NET-1"],
    ["198.18.0.1", "benchmarking 198.18/15"],
    ["192.0.0.192", "Oracle metadata (IETF protocol assignments)"],
    ["fd00::1", "unique-local fc00::/7 (fd)"],
    ["fc00::1", "unique-local fc00::/7 (fc)"],
    ["fd00:ec2::254", "AWS IPv6 metadata"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:a9fe:a9fe", "IPv4-mapped metadata in hex"],
    ["::10.0.0.1", "IPv4-compatible private"],
    ["64:ff9b::10.0.0.1", "NAT64 well-known prefix embedding private"],
    ["64:ff9b::7f00:1", "NAT64 well-known prefix embedding loopback"],
    ["64:ff9b:1::1", "NAT64 local-use prefix"],
    ["2002:a00:1::1", "6to4 embedding 10.0.0.1"],
    ["2002:a9fe:a9fe::", "6to4 embedding metadata"],
    ["2001::1", "Teredo"],
    ["2001:db8::1", "IPv6 documentation"],
    ["100::1", "IPv6 discard-only"],
    ["fec0::1", "deprecated site-local"],
    ["not-an-ip", "a hostname is never an admitted address"],
    ["", "empty"],
  ])("refuses %s (%s)", (address) => {
    expect(isForbiddenAddress(address)).toBe(true);
  });

  it.each([
    ["8.8.8.8"],
    ["93.184.216.34"],
    ["172.32.0.1"],
    ["100.128.0.1"],
    ["2606:4700:4700::1111"],
    ["::ffff:8.8.8.8"],
    ["64:ff9b::808:808"],
    ["2002:808:808::1"],
  ])("admits the public address %s", (address) => {
    expect(isForbiddenAddress(address)).toBe(false);
  });
});

function stubLookup(table: Record<string, LookupAddress[]>): DnsLookupAll & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (hostname: string, _options: { all: true }, callback: Parameters<DnsLookupAll>[2]) => {
    calls.push(hostname);
    const addresses = table[hostname];
    queueMicrotask(() =>
      addresses
        ? callback(null, addresses)
        : callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), []),
    );
  };
  return Object.assign(lookup, { calls });
}

describe("resolveCheckedAddress", () => {
  const lookup = stubLookup({
    "public.test": [{ address: "93.184.216.34", family: 4 }],
    "rebind.test": [{ address: "127.0.0.1", family: 4 }],
    "mixed.test": [
      { address: "93.184.216.34", family: 4 },
      { address: "10.0.0.1", family: 4 },
    ],
    "empty.test": [],
  });
  const none = new HostAllowlist([]);

  it("returns the checked address that the socket will connect to", async () => {
    await expect(resolveCheckedAddress("public.test", 443, none, lookup)).resolves.toBe("93.184.216.34");
  });

  it("refuses a name when any of its addresses is forbidden", async () => {
    await expect(resolveCheckedAddress("rebind.test", 80, none, lookup)).rejects.toBeInstanceOf(
      ForbiddenAddressError,
    );
    await expect(resolveCheckedAddress("mixed.test", 80, none, lookup)).rejects.toBeInstanceOf(
      ForbiddenAddressError,
    );
  });

  it("checks IP literals without a DNS lookup", async () => {
    const before = lookup.calls.length;
    await expect(resolveCheckedAddress("[::1]", 80, none, lookup)).rejects.toBeInstanceOf(
      ForbiddenAddressError,
    );
    await expect(resolveCheckedAddress("8.8.8.8", 80, none, lookup)).resolves.toBe("8.8.8.8");
    expect(lookup.calls.length).toBe(before);
  });

  it("reports DNS failures and empty answers as DnsFailureError", async () => {
    await expect(resolveCheckedAddress("nowhere.test", 80, none, lookup)).rejects.toBeInstanceOf(
      DnsFailureError,
    );
    await expect(resolveCheckedAddress("empty.test", 80, none, lookup)).rejects.toBeInstanceOf(
      DnsFailureError,
    );
  });

  it("admits internal addresses for allowlisted hosts, by hostname or by host:port", async () => {
    const byName = new HostAllowlist(["Rebind.Test"]);
    await expect(resolveCheckedAddress("rebind.test", 8080, byName, lookup)).resolves.toBe("127.0.0.1");
    const byPort = new HostAllowlist(["rebind.test:8080", "[::1]:9000"]);
    await expect(resolveCheckedAddress("rebind.test", 8080, byPort, lookup)).resolves.toBe("127.0.0.1");
    await expect(resolveCheckedAddress("rebind.test", 8081, byPort, lookup)).rejects.toBeInstanceOf(
      ForbiddenAddressError,
    );
    await expect(resolveCheckedAddress("[::1]", 9000, byPort, lookup)).resolves.toBe("::1");
    await expect(resolveCheckedAddress("[::1]", 9001, byPort, lookup)).rejects.toBeInstanceOf(
      ForbiddenAddressError,
    );
  });
});
