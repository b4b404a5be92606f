import { createHash } from "node:crypto";
import { AppError } from "@spell/contracts";
import { wasmApi } from "./webassembly.ts";

/**
 * Publish-time inspection of a wasm binary. We parse only the sections that matter to the sandbox
 * (imports, memories, exports) so refusals say exactly what is wrong, and we re-encode the memory
 * limits so that `memory.grow` past the cap fails inside the guest instead of inside our process.
 */

export const WASI_MODULE = "wasi_snapshot_preview1";
export const WASM_PAGE_BYTES = 65_536;

const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const SECTION_EXPORT = 7;

const KIND_FUNC = 0;
const KIND_TABLE = 1;
const KIND_MEMORY = 2;
const KIND_GLOBAL = 3;
const KIND_TAG = 4;
const KIND_NAMES = ["function", "table", "memory", "global", "tag"] as const;

const LIMIT_HAS_MAX = 0x01;
const LIMIT_SHARED = 0x02;
const LIMIT_MEMORY64 = 0x04;

function refuse(reason: string, message: string, details: Record<string, unknown> = {}): never {
  throw new AppError("ARTIFACT_INVALID", message, { reason, ...details });
}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  byte(): number {
    if (this.pos >= this.end) refuse("malformed", "Malformed WebAssembly binary: unexpected end of section");
    return this.bytes[this.pos++] as number;
  }

  /** Unsigned LEB128 up to 64 bits, returned as a number (memory limits above 2^53 pages are absurd anyway). */
  uleb(maxBits = 32): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return result;
      if (shift >= maxBits + 7) refuse("malformed", "Malformed WebAssembly binary: LEB128 integer too long");
    }
  }

  name(): string {
    const length = this.uleb();
    if (this.pos + length > this.end)
      refuse("malformed", "Malformed WebAssembly binary: name overruns section");
    const text = new TextDecoder("utf-8", { fatal: false }).decode(
      this.bytes.subarray(this.pos, this.pos + length),
    );
    this.pos += length;
    return text;
  }

  skipLimits(): void {
    const flags = this.byte();
    const bits = flags & LIMIT_MEMORY64 ? 64 : 32;
    this.uleb(bits);
    if (flags & LIMIT_HAS_MAX) this.uleb(bits);
  }

  skipValueTypeAndMut(): void {
    const type = this.byte();
    // Reference types with a heap-type immediate (typed function references) carry one more LEB.
    if (type === 0x63 || type === 0x64) this.uleb(33);
    this.byte();
  }
}

export interface MemoryLimits {
  flags: number;
  initialPages: number;
  maximumPages: number | null;
}

interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  contentStart: number;
  end: number;
}

export interface WasmInspection {
  imports: { module: string; name: string; kind: string }[];
  exports: { name: string; kind: string }[];
  memories: { imported: boolean; limits: MemoryLimits }[];
  memorySection: Section | null;
}

function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    refuse("not_wasm", "Not a WebAssembly binary (missing \\0asm magic)");
  }
  if (bytes[4] !== 0x01 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    refuse("unsupported_version", "Unsupported WebAssembly binary version (only version 1 is accepted)");
  }
  const sections: Section[] = [];
  const reader = new Reader(bytes, 8, bytes.length);
  while (reader.pos < bytes.length) {
    const start = reader.pos;
    const id = reader.byte();
    const size = reader.uleb();
    const contentStart = reader.pos;
    const end = contentStart + size;
    if (end > bytes.length) refuse("malformed", "Malformed WebAssembly binary: section overruns the file");
    sections.push({ id, start, contentStart, end });
    reader.pos = end;
  }
  return sections;
}

function readLimits(reader: Reader): MemoryLimits {
  const flags = reader.byte();
  const bits = flags & LIMIT_MEMORY64 ? 64 : 32;
  const initialPages = reader.uleb(bits);
  const maximumPages = flags & LIMIT_HAS_MAX ? reader.uleb(bits) : null;
  return { flags, initialPages, maximumPages };
}

export function inspectWasm(bytes: Uint8Array): WasmInspection {
  const sections = readSections(bytes);
  const inspection: WasmInspection = { imports: [], exports: [], memories: [], memorySection: null };
  for (const section of sections) {
    const reader = new Reader(bytes, section.contentStart, section.end);
    if (section.id === SECTION_IMPORT) {
      const count = reader.uleb();
      for (let i = 0; i < count; i++) {
        const module = reader.name();
        const name = reader.name();
        const kind = reader.byte();
        if (kind === KIND_FUNC || kind === KIND_TAG) {
          if (kind === KIND_TAG) reader.byte();
          reader.uleb();
        } else if (kind === KIND_TABLE) {
          reader.byte();
          reader.skipLimits();
        } else if (kind === KIND_MEMORY) {
          inspection.memories.push({ imported: true, limits: readLimits(reader) });
        } else if (kind === KIND_GLOBAL) {
          reader.skipValueTypeAndMut();
        } else {
          refuse("malformed", `Malformed WebAssembly binary: unknown import kind ${kind}`);
        }
        inspection.imports.push({ module, name, kind: KIND_NAMES[kind] ?? "unknown" });
      }
    } else if (section.id === SECTION_MEMORY) {
      inspection.memorySection = section;
      const count = reader.uleb();
      for (let i = 0; i < count; i++) {
        inspection.memories.push({ imported: false, limits: readLimits(reader) });
      }
    } else if (section.id === SECTION_EXPORT) {
      const count = reader.uleb();
      for (let i = 0; i < count; i++) {
        const name = reader.name();
        const kind = reader.byte();
        reader.uleb();
        inspection.exports.push({ name, kind: KIND_NAMES[kind] ?? "unknown" });
      }
    }
  }
  return inspection;
}

function encodeUleb(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) b |= 0x80;
    out.push(b);
  } while (rest > 0);
  return out;
}

/** Replaces the single memory's limits with `{initial, maximum}` and rewrites the section size. */
function patchMemorySection(bytes: Uint8Array, section: Section, limits: MemoryLimits): Uint8Array {
  const content = [
    0x01,
    LIMIT_HAS_MAX,
    ...encodeUleb(limits.initialPages),
    ...encodeUleb(limits.maximumPages ?? 0),
  ];
  const header = [SECTION_MEMORY, ...encodeUleb(content.length)];
  const out = new Uint8Array(section.start + header.length + content.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  out.set(header, section.start);
  out.set(content, section.start + header.length);
  out.set(bytes.subarray(section.end), section.start + header.length + content.length);
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface ArtifactCheckLimits {
  maxModuleBytes: number;
  memoryCapBytes: number;
}

/**
 * Checks a WASI command module against the sandbox rules and caps its memory. Idempotent: preparing
 * an already prepared binary returns the same bytes, so the runtime can re-apply it on every load.
 */
export function checkAndPatch(
  bytes: Uint8Array,
  limits: ArtifactCheckLimits,
): { binary: Uint8Array; sha256: string } {
  if (bytes.length > limits.maxModuleBytes) {
    refuse("too_large", `The module is ${bytes.length} bytes; the limit is ${limits.maxModuleBytes}`, {
      sizeBytes: bytes.length,
      maxModuleBytes: limits.maxModuleBytes,
    });
  }
  const inspection = inspectWasm(bytes);

  const foreign = inspection.imports.filter((entry) => entry.module !== WASI_MODULE);
  if (foreign.length > 0) {
    const names = foreign.map((entry) => `${entry.module}.${entry.name}`);
    refuse(
      "forbidden_import",
      `Only imports from "${WASI_MODULE}" are allowed; found ${names.slice(0, 5).join(", ")}`,
      { imports: names.slice(0, 20) },
    );
  }
  const nonFunction = inspection.imports.filter((entry) => entry.kind !== "function");
  if (nonFunction.length > 0) {
    const first = nonFunction[0];
    refuse(
      first?.kind === "memory" ? "imported_memory" : "forbidden_import",
      first?.kind === "memory"
        ? "The module imports its memory; it must define and export exactly one memory"
        : `Only function imports are allowed; found a ${first?.kind} import`,
    );
  }
  if (inspection.memories.length !== 1) {
    refuse(
      inspection.memories.length === 0 ? "no_memory" : "multiple_memories",
      `The module must define exactly one memory; it has ${inspection.memories.length}`,
      { memories: inspection.memories.length },
    );
  }
  const memory = inspection.memories[0] as WasmInspection["memories"][number];
  if (memory.limits.flags & LIMIT_MEMORY64) refuse("memory64", "64-bit memories are not supported");
  if (memory.limits.flags & LIMIT_SHARED) refuse("shared_memory", "Shared memories are not allowed");
  if (memory.limits.flags & ~LIMIT_HAS_MAX) {
    refuse("malformed", `Unknown memory limits flags 0x${memory.limits.flags.toString(16)}`);
  }
  if (!inspection.exports.some((entry) => entry.kind === "memory")) {
    refuse("memory_not_exported", "The module must export its memory (WASI reads and writes through it)");
  }
  if (!inspection.exports.some((entry) => entry.name === "_start" && entry.kind === "function")) {
    refuse("no_start", "The module must export a `_start` function (a WASI preview1 command)");
  }
  if (!wasmApi.validate(bytes)) {
    refuse("invalid", "The module does not validate as WebAssembly");
  }

  const capPages = Math.floor(limits.memoryCapBytes / WASM_PAGE_BYTES);
  if (memory.limits.initialPages > capPages) {
    refuse(
      "initial_memory_over_cap",
      `The module's initial memory (${memory.limits.initialPages * WASM_PAGE_BYTES} bytes) exceeds the cap of ${limits.memoryCapBytes} bytes`,
      { initialBytes: memory.limits.initialPages * WASM_PAGE_BYTES, memoryCapBytes: limits.memoryCapBytes },
    );
  }
  const maximumPages = Math.min(memory.limits.maximumPages ?? capPages, capPages);
  const section = inspection.memorySection as Section;
  const binary = patchMemorySection(bytes, section, {
    flags: LIMIT_HAS_MAX,
    initialPages: memory.limits.initialPages,
    maximumPages,
  });
  return { binary, sha256: sha256Hex(binary) };
}
