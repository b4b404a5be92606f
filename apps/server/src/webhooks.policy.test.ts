import { AppError } from "@spell/contracts";
import {
  DnsFailureError,
  ForbiddenAddressError,
  HostAllowlist,
  resolveCheckedAddress,
} from "@spell/runtime-api";
import { describe, expect, it } from "vitest";
import { dnsFailure, guardRefusal } from "./webhooks/guard.ts";
import { checkWebhookUrl } from "./webhooks/policy.ts";

const production = { requireHttps: true, allowlist: new HostAllowlist([]) };
const development = { requireHttps: false, allowlist: new HostAllowlist([]) };

function reasonOf(url: string, policy = production): string | undefined {
  try {
    checkWebhookUrl(url, policy);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("VALIDATION_ERROR");
    return (error as AppError).details.reason as string;
  }
}

describe("the webhook URL check at the request", () => {
  it("admits a public https URL; http only outside production", () => {
    expect(reasonOf("https://hooks.example.com/spell?x=1")).toBeUndefined();
    expect(reasonOf("http://hooks.example.com/spell")).toBe("webhook_https_required");
    expect(reasonOf("http://hooks.example.com/spell", development)).toBeUndefined();
  });

  it("refuses credentials, other schemes and garbage", () => {
    expect(reasonOf("https://user:secret@hooks.example.com/")).toBe("webhook_url_credentials");
    expect(reasonOf("ftp://hooks.example.com/")).toBe("webhook_url_scheme");
    expect(reasonOf("hooks.example.com/path")).toBe("webhook_url_invalid");
  });

  it("refuses the api runtime's forbidden literals and localhost, unless allow-listed", () => {
    for (const url of [
      "https://127.0.0.1/",
      "https://10.0.0.1/",
      "https://192.168.1.10:8443/",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/",
      "https://[::ffff:10.0.0.1]/",
      "https://[fd00:ec2::254]/",
      "https://localhost/",
      "https://api.localhost/",
      "https://0.0.0.0/",
    ]) {
      expect(reasonOf(url), url).toBe("webhook_forbidden_address");
    }
    const allowLoopback = { requireHttps: false, allowlist: new HostAllowlist(["127.0.0.1"]) };
    expect(reasonOf("http://127.0.0.1:9999/hook", allowLoopback)).toBeUndefined();
    expect(reasonOf("http://10.0.0.1/hook", allowLoopback)).toBe("webhook_forbidden_address");
  });
});

describe("the webhook receiver's address at delivery", () => {
  const resolving =
    (addresses: string[]) =>
    (
      _host: string,
      _options: { all: true },
      callback: (error: null, addresses: Array<{ address: string; family: number }>) => void,
    ) =>
      callback(
        null,
        addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
      );
  const none = new HostAllowlist([]);

  it("connects to the checked public address a name resolves to", async () => {
    await expect(
      resolveCheckedAddress("hooks.example.com", 443, none, resolving(["93.184.216.34"])),
    ).resolves.toBe("93.184.216.34");
  });

  it("refuses a name with any forbidden answer (rebinding mixes a public and an internal one)", async () => {
    for (const answers of [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["::1"], ["169.254.169.254"]]) {
      await expect(
        resolveCheckedAddress("hooks.example.com", 443, none, resolving(answers)),
      ).rejects.toBeInstanceOf(ForbiddenAddressError);
    }
  });

  it("admits an allow-listed host or host:port only", async () => {
    const list = new HostAllowlist(["hooks.internal:8080"]);
    await expect(resolveCheckedAddress("hooks.internal", 8080, list, resolving(["10.0.0.5"]))).resolves.toBe(
      "10.0.0.5",
    );
    await expect(
      resolveCheckedAddress("hooks.internal", 8081, list, resolving(["10.0.0.5"])),
    ).rejects.toBeInstanceOf(ForbiddenAddressError);
  });

  it("does not admit a name because the address it resolves to is an allow-listed literal", async () => {
    const loopback = new HostAllowlist(["127.0.0.1"]);
    await expect(resolveCheckedAddress("127.0.0.1", 9999, loopback, resolving([]))).resolves.toBe(
      "127.0.0.1",
    );
    await expect(
      resolveCheckedAddress("sneaky.test", 9999, loopback, resolving(["127.0.0.1"])),
    ).rejects.toBeInstanceOf(ForbiddenAddressError);
  });

  it("recognizes the guard's refusal under undici's wrapping, and nothing else, as a refusal", () => {
    const refusal = new ForbiddenAddressError("sneaky.test");
    expect(guardRefusal(new Error("connect failed", { cause: refusal }))).toBe(refusal);
    expect(guardRefusal(new Error("ECONNREFUSED"))).toBeUndefined();
  });

  it("records a failed lookup with the resolver's code (a failed attempt, retried)", () => {
    const cause = Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.test"), { code: "ENOTFOUND" });
    const failure = new DnsFailureError("nowhere.test", { cause });
    expect(dnsFailure(new Error("connect failed", { cause: failure }))).toBe(
      "ENOTFOUND: Could not resolve nowhere.test",
    );
    expect(guardRefusal(failure)).toBeUndefined();
  });
});
