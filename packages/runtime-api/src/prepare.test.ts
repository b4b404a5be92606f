import { describe, expect, it } from "vitest";
import { createApiRuntime, deriveSpellSigningSecret } from "./index.ts";
import { apiSpell } from "./testing/index.ts";

const runtime = createApiRuntime({
  allowedHosts: [],
  requireHttps: true,
  secrets: { TOKEN: "t" },
  signingKey: "server-signing-key",
});

describe("api runtime as the engine's port", () => {
  it("prepares an endpoint, stored normalized, with no other artifact field", () => {
    expect(runtime.prepare({ apiEndpoint: "https://Upstream.example" }, {})).toEqual({
      builtin: null,
      apiEndpoint: "https://upstream.example/",
      wasmBinary: null,
      wasmSha256: null,
    });
  });

  it.each([
    [{ apiEndpoint: "http://upstream.example" }, {}, "https_required"],
    [
      { apiEndpoint: "https://upstream.example" },
      { headers: { "x-key": { secret: "NOPE" } } },
      "unknown_secret",
    ],
    [{ apiEndpoint: "https://upstream.example" }, { method: "GET" }, "config_invalid"],
    [{ builtin: "echo" }, {}, "artifact_mismatch"],
  ])("refuses %j with config %j: ARTIFACT_INVALID %s", (artifact, config, reason) => {
    expect(() => runtime.prepare(artifact, config)).toThrow(
      expect.objectContaining({ code: "ARTIFACT_INVALID", details: expect.objectContaining({ reason }) }),
    );
  });

  it("shows the publisher the secret its upstream verifies signatures with", () => {
    const spell = apiSpell("https://upstream.example", {}, "spl_42");
    expect(runtime.signingSecret?.(spell)).toBe(deriveSpellSigningSecret("server-signing-key", "spl_42"));
  });
});
