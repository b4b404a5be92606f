import { AppError } from "@spell/contracts";
import { describe, expect, it } from "vitest";
import { committedBinary, watToWasm } from "../wasm/build.ts";
import { DEFAULT_WASM_LIMITS, prepareWasmArtifact } from "./index.ts";

const PAGE = 65_536;

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected prepareWasmArtifact to refuse the module");
}

const START = `(func (export "_start"))`;

describe("prepareWasmArtifact refuses modules outside the sandbox rules", () => {
  const cases: { name: string; wat?: string; features?: Record<string, boolean>; reason: string }[] = [
    {
      name: "an imported memory",
      wat: `(module (import "wasi_snapshot_preview1" "memory" (memory 1)) (export "memory" (memory 0)) ${START})`,
      reason: "imported_memory",
    },
    { name: "no memory", wat: `(module ${START})`, reason: "no_memory" },
    {
      name: "two memories",
      wat: `(module (memory (export "memory") 1) (memory 1) ${START})`,
      features: { multi_memory: true },
      reason: "multiple_memories",
    },
    {
      name: "a shared memory",
      wat: `(module (memory (export "memory") 1 2 shared) ${START})`,
      features: { threads: true },
      reason: "shared_memory",
    },
    {
      name: "a 64-bit memory",
      wat: `(module (memory (export "memory") i64 1) ${START})`,
      features: { memory64: true },
      reason: "memory64",
    },
    {
      name: "no _start export",
      wat: `(module (memory (export "memory") 1) (func (export "main")))`,
      reason: "no_start",
    },
    { name: "an unexported memory", wat: `(module (memory 1) ${START})`, reason: "memory_not_exported" },
    {
      name: "an initial memory above the cap",
      wat: `(module (memory (export "memory") ${DEFAULT_WASM_LIMITS.memoryCapBytes / PAGE + 1}) ${START})`,
      reason: "initial_memory_over_cap",
    },
    {
      name: "a table import",
      wat: `(module (import "wasi_snapshot_preview1" "t" (table 1 funcref)) (memory (export "memory") 1) ${START})`,
      reason: "forbidden_import",
    },
  ];

  it.each(cases)("refuses $name", async ({ wat, features, reason }) => {
    const bytes = await watToWasm(wat as string, features);
    const error = refusal(() => prepareWasmArtifact(bytes));
    expect(error.code).toBe("ARTIFACT_INVALID");
    expect(error.details.reason).toBe(reason);
  });

  it("refuses an import from a module other than wasi_snapshot_preview1, naming it", () => {
    const error = refusal(() => prepareWasmArtifact(committedBinary("unknown-import")));
    expect(error.code).toBe("ARTIFACT_INVALID");
    expect(error.details.reason).toBe("forbidden_import");
    expect(error.message).toContain("env.system");
  });

  it("refuses bytes that are not WebAssembly", () => {
    const error = refusal(() => prepareWasmArtifact(new TextEncoder().encode("#!/bin/sh\nrm -rf /\n")));
    expect(error.details.reason).toBe("not_wasm");
  });

  it("refuses a module whose code does not validate", () => {
    const bytes = committedBinary("trap").slice();
    // The final byte closes _start's body; anything else there is invalid code.
    bytes[bytes.length - 1] = 0xff;
    const error = refusal(() => prepareWasmArtifact(bytes));
    expect(error.code).toBe("ARTIFACT_INVALID");
    expect(["invalid", "malformed"]).toContain(error.details.reason);
  });

  it("refuses a truncated module", () => {
    const bytes = committedBinary("echo-c");
    const error = refusal(() => prepareWasmArtifact(bytes.subarray(0, bytes.length - 10)));
    expect(["invalid", "malformed"]).toContain(error.details.reason);
  });

  it("refuses a module above maxModuleBytes", () => {
    const bytes = committedBinary("echo-c");
    const error = refusal(() => prepareWasmArtifact(bytes, { maxModuleBytes: 1024 }));
    expect(error.details).toMatchObject({
      reason: "too_large",
      sizeBytes: bytes.length,
      maxModuleBytes: 1024,
    });
  });

  it("refuses a memory cap above 256 MiB as a configuration error", () => {
    expect(() => prepareWasmArtifact(committedBinary("echo"), { memoryCapBytes: 512 * 1024 * 1024 })).toThrow(
      RangeError,
    );
  });
});

describe("prepareWasmArtifact caps the memory", () => {
  const growWat = (limits: string) => `(module
    (memory (export "memory") ${limits})
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    ${START})`;

  interface GrowGuest {
    grow(pages: number): number;
    memory: { buffer: ArrayBuffer };
  }
  const js = (globalThis as unknown as { WebAssembly: WebAssemblyJs }).WebAssembly;
  interface WebAssemblyJs {
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: object) => { exports: GrowGuest };
    validate(bytes: Uint8Array): boolean;
  }

  function instantiate(binary: Uint8Array): GrowGuest {
    return new js.Instance(new js.Module(binary), {}).exports;
  }

  it("makes memory.grow past the cap fail inside the guest", async () => {
    const { binary } = prepareWasmArtifact(await watToWasm(growWat("1")), { memoryCapBytes: 4 * PAGE });
    const guest = instantiate(binary);
    expect(guest.grow(3)).toBe(1);
    expect(guest.grow(1)).toBe(-1);
    expect(guest.memory.buffer.byteLength).toBe(4 * PAGE);
  });

  it("lowers a declared maximum above the cap and keeps one below it", async () => {
    const high = instantiate(
      prepareWasmArtifact(await watToWasm(growWat("1 100")), { memoryCapBytes: 4 * PAGE }).binary,
    );
    expect(high.grow(4)).toBe(-1);
    expect(high.grow(3)).toBe(1);
    const low = instantiate(
      prepareWasmArtifact(await watToWasm(growWat("1 2")), { memoryCapBytes: 4 * PAGE }).binary,
    );
    expect(low.grow(2)).toBe(-1);
    expect(low.grow(1)).toBe(1);
  });

  it("is idempotent and hashes the patched binary", async () => {
    const first = prepareWasmArtifact(committedBinary("wordcount"));
    const again = prepareWasmArtifact(first.binary);
    expect(Buffer.compare(first.binary, again.binary)).toBe(0);
    expect(again.sha256).toBe(first.sha256);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(js.validate(first.binary)).toBe(true);
  });

  it("accepts the C, Rust and AssemblyScript examples", () => {
    for (const name of ["echo-c", "echo-rust", "echo-as", "wordcount"]) {
      expect(() => prepareWasmArtifact(committedBinary(name)), name).not.toThrow();
    }
  });
});
