import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { resolveReceiver, WebhookForbiddenAddressError, WebhookHostAllowlist } from "./webhooks/guard.ts";
import { checkWebhookUrl } from "./webhooks/policy.ts";

const production = { requireHttps: true, allowlist: new WebhookHostAllowlist([]) };
const development = { requireHttps: false, allowlist: new WebhookHostAllowlist([]) };

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
    const allowLoopback = { requireHttps: false, allowlist: new WebhookHostAllowlist(["127.0.0.1"]) };
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
  const none = new WebhookHostAllowlist([]);

  it("connects to the checked public address a name resolves to", async () => {
    await expect(resolveReceiver("hooks.example.com", 443, none, resolving(["93.184.216.34"]))).resolves.toBe(
      "93.184.216.34",
    );
  });

  it("refuses a name with any forbidden answer (rebinding mixes a public and an internal one)", async () => {
    for (const answers of [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["::1"], ["169.254.169.254"]]) {
      await expect(
        resolveReceiver("hooks.example.com", 443, none, resolving(answers)),
      ).rejects.toBeInstanceOf(WebhookForbiddenAddressError);
    }
  });

  it("admits an allow-listed host or host:port only", async () => {
    const list = new WebhookHostAllowlist(["hooks.internal:8080"]);
    await expect(resolveReceiver("hooks.internal", 8080, list, resolving(["10.0.0.5"]))).resolves.toBe(
      "10.0.0.5",
    );
    await expect(
      resolveReceiver("hooks.internal", 8081, list, resolving(["10.0.0.5"])),
    ).rejects.toBeInstanceOf(WebhookForbiddenAddressError);
  });
});
