import { afterAll, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { createWasmRuntime, prepareWasmArtifact } from "./index.ts";

const limits = { memoryCapBytes: 1024 * 1024 };
const runtime = createWasmRuntime({
  loadBinary: async () => {
    throw new Error("prepare never loads a stored binary");
  },
  poolSize: 1,
  limits,
});
afterAll(() => runtime.close());

const base64 = (name: string) => Buffer.from(committedBinary(name)).toString("base64");

describe("wasm runtime as the engine's port", () => {
  it("prepares with the runtime's own limits: the capped binary and its sha256", () => {
    const expected = prepareWasmArtifact(committedBinary("echo"), limits);
    expect(runtime.prepare({ wasmBase64: base64("echo") }, {})).toEqual({
      builtin: null,
      apiEndpoint: null,
      wasmBinary: expected.binary,
      wasmSha256: expected.sha256,
    });
  });

  it.each([
    {
      name: "a module importing from elsewhere",
      artifact: { wasmBase64: base64("unknown-import") },
      reason: "forbidden_import",
    },
    {
      name: "an api artifact",
      artifact: { apiEndpoint: "https://upstream.example" },
      reason: "artifact_mismatch",
    },
  ])("refuses $name with ARTIFACT_INVALID $reason", ({ artifact, reason }) => {
    expect(() => runtime.prepare(artifact, {})).toThrow(
      expect.objectContaining({ code: "ARTIFACT_INVALID", details: expect.objectContaining({ reason }) }),
    );
  });
});
