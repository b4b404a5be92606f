/**
 * Rebuilds the committed wasm binaries in `wasm/bin` from their sources.
 *
 *   pnpm --filter @spell/runtime-wasm exec tsx wasm/build.ts           # rebuild what the installed toolchains can
 *   pnpm --filter @spell/runtime-wasm exec tsx wasm/build.ts --check   # compare instead of writing; exit 1 on drift
 *
 * WAT (wabt) and AssemblyScript (asc) come from devDependencies and are always available. C needs
 * Debian's `clang lld wasi-libc libclang-rt-dev-wasm32`; Rust needs `rustc libstd-rust-dev-wasm32`
 * (the Debian rustc at /usr/bin/rustc, 1.63, whose target is still called wasm32-wasi).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const WASM_DIR = fileURLToPath(new URL(".", import.meta.url));
export const BIN_DIR = join(WASM_DIR, "bin");

export type Toolchain = "wat" | "c" | "rust" | "assemblyscript";

export interface WasmSource {
  /** Output name in `wasm/bin` without `.wasm`. */
  name: string;
  toolchain: Toolchain;
  /** Path relative to `wasm/`. */
  source: string;
}

function watSources(folder: string): WasmSource[] {
  return readdirSync(join(WASM_DIR, folder))
    .filter((file) => file.endsWith(".wat"))
    .sort()
    .map((file) => ({
      name: basename(file, ".wat"),
      toolchain: "wat" as const,
      source: `${folder}/${file}`,
    }));
}

export const WASM_SOURCES: WasmSource[] = [
  { name: "echo-c", toolchain: "c", source: "examples/echo.c" },
  { name: "echo-rust", toolchain: "rust", source: "examples/echo.rs" },
  { name: "echo-as", toolchain: "assemblyscript", source: "examples/echo.ts" },
  { name: "wordcount", toolchain: "c", source: "examples/wordcount.c" },
  ...watSources("hostile"),
  ...watSources("fixtures"),
];

const CLANG = "/usr/bin/clang";
const RUSTC = "/usr/bin/rustc";

/** Whether this machine can build the toolchain's sources (C and Rust are optional installs). */
export function toolchainAvailable(toolchain: Toolchain): boolean {
  if (toolchain === "c") return existsSync(CLANG) && existsSync("/usr/lib/wasm32-wasi/libc.a");
  if (toolchain === "rust") return existsSync(RUSTC) && existsSync("/usr/lib/rustlib/wasm32-wasi");
  return true;
}

interface Wabt {
  parseWat(
    filename: string,
    source: string,
    features?: Record<string, boolean>,
  ): {
    resolveNames(): void;
    validate(): void;
    toBinary(options: Record<string, boolean>): { buffer: Uint8Array };
    destroy(): void;
  };
}

let wabtPromise: Promise<Wabt> | null = null;

/** wabt compiled to wasm, loaded once. */
export function loadWabt(): Promise<Wabt> {
  wabtPromise ??= import("wabt").then(async (mod) => {
    const init = (mod as unknown as { default: () => Promise<Wabt> }).default;
    return init();
  });
  return wabtPromise;
}

export async function watToWasm(source: string, features: Record<string, boolean> = {}): Promise<Uint8Array> {
  const wabt = await loadWabt();
  const module = wabt.parseWat("module.wat", source, features);
  try {
    module.resolveNames();
    // wabt's validate() ignores the parse features, so modules using proposals skip it (the tests
    // build such modules precisely to see them refused).
    if (Object.keys(features).length === 0) module.validate();
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

function withTempDir<T>(run: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "spell-wasm-"));
  try {
    return run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds one source to wasm bytes (synchronous toolchains run as child processes). */
export async function buildSource(entry: WasmSource): Promise<Uint8Array> {
  const source = join(WASM_DIR, entry.source);
  switch (entry.toolchain) {
    case "wat":
      return watToWasm(readFileSync(source, "utf8"));
    case "c":
      return withTempDir((dir) => {
        const out = join(dir, "out.wasm");
        execFileSync(CLANG, ["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-s", "-o", out, source]);
        return new Uint8Array(readFileSync(out));
      });
    case "rust":
      return withTempDir((dir) => {
        const out = join(dir, "out.wasm");
        execFileSync(RUSTC, [
          "--target",
          "wasm32-wasi",
          "--edition=2021",
          "-C",
          "opt-level=s",
          "-C",
          "strip=symbols",
          "-C",
          "panic=abort",
          "-C",
          "lto",
          "-C",
          "codegen-units=1",
          // Keeps the checkout path out of panic locations, so the binary is the same everywhere.
          `--remap-path-prefix=${WASM_DIR}=spell`,
          "-o",
          out,
          source,
        ]);
        return new Uint8Array(readFileSync(out));
      });
    case "assemblyscript": {
      const require = createRequire(import.meta.url);
      // asc only honours the shim's `lib` folder when the config is given as a relative path.
      const shimConfig = relative(process.cwd(), require.resolve("@assemblyscript/wasi-shim/asconfig.json"));
      const asc = (await import("assemblyscript/asc")) as unknown as {
        main(
          argv: string[],
          options: { writeFile(name: string, contents: Uint8Array | string): void },
        ): Promise<{ error: Error | null; stderr: { toString(): string } }>;
      };
      let binary: Uint8Array | null = null;
      const result = await asc.main(
        [source, "--config", shimConfig, "-O", "--runtime", "stub", "--outFile", "out.wasm"],
        {
          writeFile(name, contents) {
            if (name.endsWith(".wasm") && typeof contents !== "string") binary = contents;
          },
        },
      );
      if (result.error) throw new Error(`asc failed: ${result.error.message}\n${result.stderr.toString()}`);
      if (binary === null) throw new Error("asc produced no binary");
      return binary;
    }
  }
}

export function committedBinary(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(BIN_DIR, `${name}.wasm`)));
}

async function main(): Promise<void> {
  const check = process.argv.includes("--check");
  let drift = 0;
  for (const entry of WASM_SOURCES) {
    if (!toolchainAvailable(entry.toolchain)) {
      console.log(`skip  ${entry.name} (${entry.toolchain} toolchain not installed)`);
      continue;
    }
    const bytes = await buildSource(entry);
    const target = join(BIN_DIR, `${entry.name}.wasm`);
    if (check) {
      const same = existsSync(target) && Buffer.compare(readFileSync(target), bytes) === 0;
      console.log(`${same ? "same " : "DRIFT"} ${entry.name}`);
      if (!same) drift++;
    } else {
      writeFileSync(target, bytes);
      console.log(`built ${entry.name} (${bytes.length} bytes)`);
    }
  }
  if (drift > 0) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
