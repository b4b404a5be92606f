import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { validateApiArtifact, ZApiSpellConfig } from "./config.ts";

const options = { requireHttps: true, secrets: { UPSTREAM_TOKEN: "s3cr3t" } };

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("ZApiSpellConfig", () => {
  it("defaults to POST with no extra headers", () => {
    expect(ZApiSpellConfig.parse({})).toEqual({ method: "POST", headers: {} });
  });

  it("accepts plain headers, secret references and limits", () => {
    const config = {
      method: "PUT",
      headers: { "X-Tenant": "acme", Authorization: { secret: "UPSTREAM_TOKEN" } },
      timeoutMs: 5000,
      maxResponseBytes: 4096,
    };
    expect(ZApiSpellConfig.parse(config)).toEqual(config);
  });

  it.each([
    ["a plain-text Authorization", { headers: { Authorization: "Bearer abc" } }],
    ["a plain-text x-api-key", { headers: { "x-api-key": "abc" } }],
    ["a plain-text Cookie", { headers: { Cookie: "sid=1" } }],
    ["a plain-text X-Auth-Token", { headers: { "X-Auth-Token": "abc" } }],
    ["an overridden content-type", { headers: { "Content-Type": "text/plain" } }],
    ["a forged Spell-Signature", { headers: { "Spell-Signature": "t=1,v1=00" } }],
    ["a Host header", { headers: { Host: "internal" } }],
    ["a header value with CRLF", { headers: { "X-A": "a\r\nX-Injected: 1" } }],
    ["a bad header name", { headers: { "X A": "1" } }],
    ["the same header twice", { headers: { "X-A": "1", "x-a": "2" } }],
    ["GET", { method: "GET" }],
    ["a timeout above 30 s", { timeoutMs: 30_001 }],
    ["a zero response limit", { maxResponseBytes: 0 }],
    ["an unknown key", { retries: 3 }],
  ])("refuses %s", (_name, config) => {
    expect(ZApiSpellConfig.safeParse(config).success).toBe(false);
  });
});

describe("validateApiArtifact", () => {
  it("returns the normalised endpoint and parsed config", () => {
    const result = validateApiArtifact(
      "https://API.example.com/v1/run",
      { headers: { authorization: { secret: "UPSTREAM_TOKEN" } } },
      options,
    );
    expect(result).toEqual({
      endpoint: "https://api.example.com/v1/run",
      config: { method: "POST", headers: { authorization: { secret: "UPSTREAM_TOKEN" } } },
    });
  });

  it.each([
    ["not a URL", "example.com/run", {}, "endpoint_invalid"],
    ["a non-http scheme", "file:///etc/passwd", {}, "endpoint_scheme"],
    ["plain http when https is required", "http://api.example.com/", {}, "https_required"],
    ["credentials in the URL", "https://user:pw@api.example.com/", {}, "endpoint_credentials"],
    ["an invalid config", "https://api.example.com/", { method: "DELETE" }, "config_invalid"],
    [
      "an unknown secret",
      "https://api.example.com/",
      { headers: { "x-api-key": { secret: "NOPE" } } },
      "unknown_secret",
    ],
  ])("refuses %s with ARTIFACT_INVALID", (_name, endpoint, config, reason) => {
    const error = refusal(() => validateApiArtifact(endpoint, config, options));
    expect(error.code).toBe("ARTIFACT_INVALID");
    expect(error.details.reason).toBe(reason);
  });

  it("admits plain http when https is not required", () => {
    expect(
      validateApiArtifact("http://api.example.com/", {}, { ...options, requireHttps: false }).endpoint,
    ).toBe("http://api.example.com/");
  });

  it("refuses internal literal endpoints early when the allowlist is given, unless allowlisted", () => {
    const local = { requireHttps: false, secrets: {}, allowedHosts: ["127.0.0.1:8080"] };
    for (const endpoint of [
      "http://127.0.0.1:9/",
      "http://[::1]/",
      "http://localhost/",
      "http://169.254.169.254/",
    ]) {
      expect(refusal(() => validateApiArtifact(endpoint, {}, local)).details.reason).toBe(
        "forbidden_address",
      );
    }
    expect(validateApiArtifact("http://127.0.0.1:8080/run", {}, local).endpoint).toBe(
      "http://127.0.0.1:8080/run",
    );
  });
});
