import { describe, expect, it } from "vitest";
import { buildSource, committedBinary, toolchainAvailable, WASM_SOURCES } from "../wasm/build.ts";

/**
 * The committed binaries in wasm/bin are what the demos and the hostile tests run, so they must be
 * what their sources build to. WAT and AssemblyScript build in-process everywhere; C and Rust only
 * where their Debian toolchains are installed (CI does not install them), else the binary is
 * just checked to be WebAssembly.
 */
describe("committed wasm binaries match their sources", () => {
  const validate = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } })
    .WebAssembly.validate;

  it.each(WASM_SOURCES.map((entry) => [entry.name, entry] as const))(
    "%s",
    async (_name, entry) => {
      const committed = committedBinary(entry.name);
      expect(validate(committed)).toBe(true);
      if (!toolchainAvailable(entry.toolchain)) return;
      const built = await buildSource(entry);
      expect(Buffer.compare(built, committed), `rebuild with: tsx wasm/build.ts`).toBe(0);
    },
    60_000,
  );
});
