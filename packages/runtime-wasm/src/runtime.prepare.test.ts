import { afterAll, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { generateModule } from "../wasm/generate.ts";
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

/** trap.wasm with the final byte (the end of _start's body) replaced: statically fine, invalid code. */
function invalidCode(): string {
  const bytes = committedBinary("trap").slice();
  bytes[bytes.length - 1] = 0xff;
  return Buffer.from(bytes).toString("base64");
}

describe("wasm runtime as the engine's port", () => {
  it("prepares with the runtime's own limits: the capped binary and its sha256", async () => {
    const expected = prepareWasmArtifact(committedBinary("echo"), limits);
    await expect(runtime.prepare({ wasmBase64: base64("echo") }, {})).resolves.toEqual({
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
    {
      name: "a module whose code does not validate (found by compiling in a sandbox process)",
      artifact: { wasmBase64: invalidCode() },
      reason: "invalid",
    },
    {
      name: "a module declaring a 10-million-entry table",
      artifact: { wasmBase64: base64("huge-table") },
      reason: "table_too_large",
    },
  ])("refuses $name with ARTIFACT_INVALID $reason", async ({ artifact, reason }) => {
    await expect(runtime.prepare(artifact, {})).rejects.toMatchObject({
      code: "ARTIFACT_INVALID",
      details: expect.objectContaining({ reason }),
    });
  });

  it("compiles with a deadline: a module that takes longer is refused with compile_timeout", async () => {
    // 99,000 functions in 15 MB: within every static bound, ~120 ms to compile on an idle core.
    const big = Buffer.from(generateModule({ functions: 99_000, bodyOps: 150 })).toString("base64");
    const strict = createWasmRuntime({
      loadBinary: async () => new Uint8Array(),
      poolSize: 1,
      limits: { maxModuleBytes: 16 * 1024 * 1024, memoryCapBytes: 1024 * 1024, compileTimeoutMs: 15 },
    });
    try {
      await expect(strict.prepare({ wasmBase64: big }, {})).rejects.toMatchObject({
        code: "ARTIFACT_INVALID",
        details: { reason: "compile_timeout", compileTimeoutMs: 15 },
      });
      // The pool replaced the killed process: the same runtime still publishes a small module.
      await expect(strict.prepare({ wasmBase64: base64("echo") }, {})).resolves.toHaveProperty("wasmSha256");
    } finally {
      await strict.close();
    }
  }, 30_000);
});
