import type { LookupAddress } from "node:dns";
import net from "node:net";
import tls from "node:tls";
import { AppError } from "@spell/contracts";
import type { RuntimeInvocation } from "@spell/engine";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createApiRuntime } from "./runtime.ts";
import type { DnsLookupAll } from "./ssrf.ts";
import { apiSpell, startUpstream, type TestUpstream } from "./testing/index.ts";

/**
 * Every socket undici opens goes through `net.connect`/`tls.connect`. The spy records the host and, if
 * it is not loopback, connects to a closed loopback port instead: even a broken guard cannot send a
 * packet off this machine, and the test sees exactly where it would have gone.
 */
const attempts: string[] = [];
const realNetConnect = net.connect;
const realTlsConnect = tls.connect;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/i;

function observe(original: (...args: never[]) => unknown) {
  return (...args: unknown[]) => {
    const options = args[0] as { host?: string; port?: number };
    const host = String(options.host);
    attempts.push(host);
    if (!LOOPBACK.test(host)) return realNetConnect({ host: "127.0.0.1", port: 1 });
    return (original as (...a: unknown[]) => unknown)(...args);
  };
}

function stubLookup(table: Record<string, LookupAddress[]>): DnsLookupAll & { calls: string[] } {
  const calls: string[] = [];
  const lookup: DnsLookupAll = (hostname, _options, callback) => {
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

const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

let victim: TestUpstream;
let redirector: TestUpstream;
const lookup = stubLookup({
  "rebind.test": [v4("127.0.0.1")],
  "meta.test": [v4("169.254.169.254")],
  "ten.test": [v4("10.0.0.1")],
  "home.test": [v4("192.168.1.1")],
  "ula.test": [v6("fd00::1")],
  "mapped.test": [v6("::ffff:10.0.0.1")],
  "mixed.test": [v4("93.184.216.34"), v4("10.0.0.1")],
  "redirector.test": [v4("127.0.0.1")],
});
const runtime = createApiRuntime({
  allowedHosts: ["redirector.test"],
  requireHttps: false,
  secrets: {},
  signingKey: "k",
  lookup,
});

beforeAll(async () => {
  victim = await startUpstream((_request, res) => res.end('{"reached":true}'));
  redirector = await startUpstream((_request, res) => {
    res.statusCode = 302;
    res.setHeader("location", `http://127.0.0.1:${victim.port}/`);
    res.end();
  });
});

beforeEach(() => {
  attempts.length = 0;
  vi.spyOn(net, "connect").mockImplementation(observe(realNetConnect) as never);
  vi.spyOn(tls, "connect").mockImplementation(observe(realTlsConnect) as never);
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await runtime.close();
  await victim.close();
  await redirector.close();
});

function invocation(endpoint: string): RuntimeInvocation {
  return { executionId: "exe_ssrf", spell: apiSpell(endpoint), input: {} };
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe("api runtime SSRF guard", () => {
  it("observes the runtime's sockets (control: an allowlisted loopback upstream is reached)", async () => {
    const open = createApiRuntime({
      allowedHosts: ["127.0.0.1"],
      requireHttps: false,
      secrets: {},
      signingKey: "k",
    });
    const result = await open.run(invocation(`http://127.0.0.1:${victim.port}/`));
    await open.close();
    expect(result.output).toEqual({ reached: true });
    expect(attempts).toEqual(["127.0.0.1"]);
    expect(victim.connections()).toBe(1);
    victim.seen.length = 0;
  });

  it.each([
    ["the loopback literal", () => `http://127.0.0.1:${victim.port}/`, "127.0.0.1"],
    ["the IPv6 loopback literal", () => `http://[::1]:${victim.port}/`, "[::1]"],
    ["a name resolving to loopback", () => `http://rebind.test:${victim.port}/`, "rebind.test"],
    ["the metadata literal", () => "http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
    ["a private literal", () => "http://10.0.0.1/", "10.0.0.1"],
    ["a home-network literal", () => "http://192.168.1.1/", "192.168.1.1"],
    ["a unique-local literal", () => "http://[fd00::1]/", "[fd00::1]"],
    ["an IPv4-mapped private literal", () => "http://[::ffff:10.0.0.1]/", "[::ffff:a00:1]"],
    ["the AWS IPv6 metadata literal", () => "http://[fd00:ec2::254]/", "[fd00:ec2::254]"],
    ["the Alibaba metadata literal", () => "http://100.100.100.200/", "100.100.100.200"],
    ["a name resolving to metadata", () => "http://meta.test/", "meta.test"],
    ["a name resolving to 10.0.0.1", () => "http://ten.test/", "ten.test"],
    ["a name resolving to 192.168.1.1", () => "http://home.test/", "home.test"],
    ["a name resolving to fd00::1", () => "http://ula.test/", "ula.test"],
    ["a name resolving to ::ffff:10.0.0.1", () => "http://mapped.test/", "mapped.test"],
    ["a name with one public and one private address", () => "http://mixed.test/", "mixed.test"],
  ])("refuses %s before any connection", async (_name, endpoint, host) => {
    const error = await failure(runtime.run(invocation(endpoint())));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toEqual({ reason: "forbidden_address", host });
    expect(attempts).toEqual([]);
    expect(victim.connections()).toBe(1); // the control test's one connection, nothing since
  });

  it("never discloses the resolved address", async () => {
    const error = await failure(runtime.run(invocation("http://meta.test/")));
    expect(error.details.reason).toBe("forbidden_address");
    expect(JSON.stringify(error.toBody())).not.toContain("169.254");
  });

  it("does not follow a redirect to loopback, even to an allowlisted host", async () => {
    const both = createApiRuntime({
      allowedHosts: ["redirector.test", `127.0.0.1:${victim.port}`],
      requireHttps: false,
      secrets: {},
      signingKey: "k",
      lookup,
    });
    for (const rt of [runtime, both]) {
      const error = await failure(rt.run(invocation(`http://redirector.test:${redirector.port}/`)));
      expect(error.code).toBe("RUNTIME_ERROR");
      expect(error.details).toEqual({ reason: "redirect_not_followed", upstreamStatus: 302 });
    }
    await both.close();
    expect(redirector.seen.length).toBe(2);
    expect(victim.seen.length).toBe(0);
    expect(victim.connections()).toBe(1);
  });

  it("connects to the address it checked, not to a second DNS answer (rebinding)", async () => {
    let answers = 0;
    const rebinding: DnsLookupAll = (_hostname, _options, callback) => {
      answers++;
      const address = answers === 1 ? v4("93.184.216.34") : v4("127.0.0.1");
      queueMicrotask(() => callback(null, [address]));
    };
    const rt = createApiRuntime({
      allowedHosts: [],
      requireHttps: false,
      secrets: {},
      signingKey: "k",
      lookup: rebinding,
    });
    const error = await failure(rt.run(invocation(`http://flip.test:${victim.port}/`)));
    await rt.close();
    // The spy diverted the public address to a closed loopback port, hence unreachable.
    expect(error.details).toEqual({ reason: "upstream_unreachable", host: "flip.test" });
    expect(answers).toBe(1);
    expect(attempts).toEqual(["93.184.216.34"]);
    expect(victim.connections()).toBe(1);
  });

  it("answers an unresolvable name with RUNTIME_ERROR dns_failure", async () => {
    const error = await failure(runtime.run(invocation("http://nowhere.test/")));
    expect(error.code).toBe("RUNTIME_ERROR");
    expect(error.details).toEqual({ reason: "dns_failure", host: "nowhere.test" });
    expect(attempts).toEqual([]);
  });
});
