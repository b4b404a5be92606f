import { describe, expect, it } from "vitest";
import { committedBinary, watToWasm } from "../wasm/build.ts";
import { importMemory, inspectWasm } from "./binary.ts";
import { prepareWasmArtifact } from "./index.ts";
import { runWasiCommand, SANDBOX_MEMORY_IMPORT } from "./wasi.mjs";

interface ModuleApi {
  new (bytes: Uint8Array): object;
  imports(module: object): { module: string; name: string; kind: string }[];
  exports(module: object): { name: string; kind: string }[];
}
const WebAssemblyApi = (
  globalThis as unknown as {
    WebAssembly: {
      validate(bytes: Uint8Array): boolean;
      Module: ModuleApi;
      Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
    };
  }
).WebAssembly;

const MIB = 1024 * 1024;
const memoryImport = { ...SANDBOX_MEMORY_IMPORT, kind: "memory" };

describe("importMemory moves a prepared module's memory into its imports", () => {
  it.each(["echo-c", "echo-rust", "echo-as", "wordcount", "counter", "leak-probe", "grow-bomb", "trap"])(
    "%s: same imports plus the sandbox memory, same exports, the declared limits",
    (name) => {
      const prepared = prepareWasmArtifact(committedBinary(name), { memoryCapBytes: 16 * MIB }).binary;
      const { binary, memory } = importMemory(prepared);
      expect(WebAssemblyApi.validate(binary)).toBe(true);
      const before = new WebAssemblyApi.Module(prepared);
      const after = new WebAssemblyApi.Module(binary);
      expect(WebAssemblyApi.Module.imports(after)).toEqual([
        ...WebAssemblyApi.Module.imports(before),
        memoryImport,
      ]);
      expect(WebAssemblyApi.Module.exports(after)).toEqual(WebAssemblyApi.Module.exports(before));
      const declared = inspectWasm(prepared).memories[0]?.limits;
      expect(memory).toEqual({ initialPages: declared?.initialPages, maximumPages: 256 });
      expect(inspectWasm(binary).memories).toEqual([{ imported: true, limits: declared }]);
    },
  );

  it("adds an import section to a module that has none, after its type section", async () => {
    const prepared = await watToWasm(`(module (memory (export "memory") 2 5) (func (export "_start")))`);
    const { binary, memory } = importMemory(prepared);
    expect(memory).toEqual({ initialPages: 2, maximumPages: 5 });
    expect(WebAssemblyApi.Module.imports(new WebAssemblyApi.Module(binary))).toEqual([memoryImport]);
    const types = await watToWasm(`(module (memory (export "memory") 1 1))`);
    expect(WebAssemblyApi.Module.imports(new WebAssemblyApi.Module(importMemory(types).binary))).toEqual([
      memoryImport,
    ]);
  });

  it("runs as the original does, on a memory the caller supplies", () => {
    const prepared = prepareWasmArtifact(committedBinary("echo-c")).binary;
    const { binary, memory } = importMemory(prepared);
    const supplied = new WebAssemblyApi.Memory({
      initial: memory.initialPages,
      maximum: memory.maximumPages,
    });
    const options = { stdin: Buffer.from('{"a":[1,2]}'), stdoutCapBytes: MIB, stderrCapBytes: MIB };
    const original = runWasiCommand(new WebAssemblyApi.Module(prepared), options);
    const imported = runWasiCommand(new WebAssemblyApi.Module(binary), { ...options, memory: supplied });
    expect(Buffer.from(imported.stdout).toString()).toBe('{"echo":{"a":[1,2]}}');
    expect(imported).toEqual(original);
  });

  it("takes prepared binaries only (a memory with a maximum, defined by the module)", async () => {
    const unbounded = await watToWasm(`(module (memory (export "memory") 1) (func (export "_start")))`);
    expect(() => importMemory(unbounded)).toThrow(/prepared binary/);
    const imported = await watToWasm(`(module (import "a" "m" (memory 1 2)) (func (export "_start")))`);
    expect(() => importMemory(imported)).toThrow(/prepared binary/);
  });
});
