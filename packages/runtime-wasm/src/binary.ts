import { createHash } from "node:crypto";
import { AppError } from "@spell/contracts";
import { SANDBOX_MEMORY_IMPORT } from "./wasi.mjs";
import { wasmApi } from "./webassembly.ts";

/**
 * Publish-time inspection of a wasm binary. One linear pass over the section headers and the
 * declarations (never the code bodies): refusals say exactly what is wrong, everything a module
 * declares is bounded (`MODULE_BOUNDS`), and the memory and table limits are re-encoded so that
 * `memory.grow` / `table.grow` past the cap fail inside the guest instead of inside our process.
 */

export const WASI_MODULE = "wasi_snapshot_preview1";
export const WASM_PAGE_BYTES = 65_536;

/**
 * What a module may declare. V8's own limits are far higher (10 million table entries, a million
 * functions or globals) and several of them allocate on the JS heap in one piece at instantiation:
 * a 60-byte module declaring a 10-million-entry table needs ~80 MB of heap at once.
 */
export const MODULE_BOUNDS = Object.freeze({
  types: 10_000,
  imports: 1_000,
  exports: 10_000,
  /** Functions defined by the module (imports not counted). */
  functions: 100_000,
  tables: 4,
  /** Entries per table, initial and maximum (a missing or larger maximum is rewritten to this). */
  tableEntries: 100_000,
  globals: 10_000,
  tags: 1_000,
  elementSegments: 10_000,
  /** Entries over all element segments. */
  elements: 200_000,
  dataSegments: 10_000,
});

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_FUNCTION = 3;
const SECTION_TABLE = 4;
const SECTION_MEMORY = 5;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_ELEMENT = 9;
const SECTION_CODE = 10;
const SECTION_DATA = 11;
const SECTION_TAG = 13;

const REF_FUNC = 0x70;
const REF_EXTERN = 0x6f;

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

  /** Skips a signed LEB128 (const expression immediates). */
  skipSleb(maxBits: number): void {
    for (let shift = 0; ; shift += 7) {
      if (shift >= maxBits + 7) refuse("malformed", "Malformed WebAssembly binary: LEB128 integer too long");
      if ((this.byte() & 0x80) === 0) return;
    }
  }

  skip(length: number): void {
    if (this.pos + length > this.end) refuse("malformed", "Malformed WebAssembly binary: overruns section");
    this.pos += length;
  }

  /** Skips a constant expression up to its `end` (MVP, reference-types and extended-const forms). */
  skipConstExpr(): void {
    for (let ops = 0; ; ops++) {
      if (ops > 1000) refuse("malformed", "Constant expression too long");
      const op = this.byte();
      if (op === 0x0b) return;
      if (op === 0x41) this.skipSleb(32);
      else if (op === 0x42) this.skipSleb(64);
      else if (op === 0x43) this.skip(4);
      else if (op === 0x44) this.skip(8);
      else if (op === 0x23 || op === 0xd2) this.uleb();
      else if (op === 0xd0) this.skipSleb(33);
      else if (op === 0xfd && this.uleb() === 12) this.skip(16);
      else if (![0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e].includes(op)) {
        refuse("malformed", `Unsupported opcode 0x${op.toString(16)} in a constant expression`);
      }
    }
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

export interface TableDeclaration {
  refType: number;
  limits: MemoryLimits;
}

export interface WasmInspection {
  imports: { module: string; name: string; kind: string }[];
  exports: { name: string; kind: string }[];
  memories: { imported: boolean; limits: MemoryLimits }[];
  memorySection: Section | null;
  tables: TableDeclaration[];
  tableSection: Section | null;
  /** Declared counts, checked against `MODULE_BOUNDS`. */
  counts: {
    types: number;
    functions: number;
    codeBodies: number;
    globals: number;
    tags: number;
    elementSegments: number;
    elements: number;
    dataSegments: number;
  };
  /** Bytes over all data segments. */
  dataBytes: number;
}

type CountName = keyof typeof MODULE_BOUNDS;

function bounded(name: CountName, count: number): number {
  const bound = MODULE_BOUNDS[name];
  if (count > bound) {
    refuse("too_many", `The module declares ${count} ${name}; at most ${bound} are allowed`, {
      what: name,
      count,
      bound,
    });
  }
  return count;
}

/** Element segment (all eight encodings): returns its number of entries. */
function readElementSegment(reader: Reader): number {
  const flags = reader.uleb();
  if (flags > 7) refuse("malformed", `Malformed WebAssembly binary: element segment flags ${flags}`);
  const passiveOrDeclarative = (flags & 0x01) !== 0;
  const explicitTable = (flags & 0x02) !== 0;
  const usesExpressions = (flags & 0x04) !== 0;
  if (!passiveOrDeclarative) {
    if (explicitTable) reader.uleb();
    reader.skipConstExpr();
  }
  if (passiveOrDeclarative || explicitTable) {
    // elemkind (0x00) for index lists, a reference type for expression lists.
    if (usesExpressions) reader.skipSleb(33);
    else reader.byte();
  }
  const count = bounded("elements", reader.uleb());
  for (let i = 0; i < count; i++) {
    if (usesExpressions) reader.skipConstExpr();
    else reader.uleb();
  }
  return count;
}

/** Data segment: returns its size in bytes. */
function readDataSegment(reader: Reader): number {
  const flags = reader.uleb();
  if (flags === 2) reader.uleb();
  if (flags === 0 || flags === 2) reader.skipConstExpr();
  else if (flags !== 1) refuse("malformed", `Malformed WebAssembly binary: data segment flags ${flags}`);
  const size = reader.uleb();
  reader.skip(size);
  return size;
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
  const inspection: WasmInspection = {
    imports: [],
    exports: [],
    memories: [],
    memorySection: null,
    tables: [],
    tableSection: null,
    counts: {
      types: 0,
      functions: 0,
      codeBodies: 0,
      globals: 0,
      tags: 0,
      elementSegments: 0,
      elements: 0,
      dataSegments: 0,
    },
    dataBytes: 0,
  };
  const { counts } = inspection;
  for (const section of sections) {
    const reader = new Reader(bytes, section.contentStart, section.end);
    if (section.id === SECTION_TYPE) {
      counts.types = bounded("types", reader.uleb());
    } else if (section.id === SECTION_FUNCTION) {
      counts.functions = bounded("functions", reader.uleb());
    } else if (section.id === SECTION_CODE) {
      counts.codeBodies = reader.uleb();
    } else if (section.id === SECTION_GLOBAL) {
      counts.globals = bounded("globals", reader.uleb());
    } else if (section.id === SECTION_TAG) {
      counts.tags = bounded("tags", reader.uleb());
    } else if (section.id === SECTION_TABLE) {
      inspection.tableSection = section;
      const count = bounded("tables", reader.uleb());
      for (let i = 0; i < count; i++) {
        const refType = reader.byte();
        if (refType !== REF_FUNC && refType !== REF_EXTERN) {
          refuse(
            "unsupported_table",
            `Tables hold funcref or externref; found type 0x${refType.toString(16)}`,
          );
        }
        inspection.tables.push({ refType, limits: readLimits(reader) });
      }
    } else if (section.id === SECTION_ELEMENT) {
      const count = bounded("elementSegments", reader.uleb());
      counts.elementSegments = count;
      for (let i = 0; i < count; i++) {
        counts.elements = bounded("elements", counts.elements + readElementSegment(reader));
      }
    } else if (section.id === SECTION_DATA) {
      const count = bounded("dataSegments", reader.uleb());
      counts.dataSegments = count;
      for (let i = 0; i < count; i++) inspection.dataBytes += readDataSegment(reader);
    } else if (section.id === SECTION_IMPORT) {
      const count = bounded("imports", reader.uleb());
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
      const count = bounded("exports", reader.uleb());
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

function encodeLimits(initial: number, maximum: number): number[] {
  return [LIMIT_HAS_MAX, ...encodeUleb(initial), ...encodeUleb(maximum)];
}

/**
 * Replaces non-overlapping byte ranges (`start === end` inserts; an insertion goes before a range
 * starting at the same offset), keeping every other byte as it was.
 */
function splice(bytes: Uint8Array, edits: { start: number; end: number; content: number[] }[]): Uint8Array {
  const ordered = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  const parts: Uint8Array[] = [];
  let cursor = 0;
  for (const { start, end, content } of ordered) {
    parts.push(bytes.subarray(cursor, start));
    parts.push(Uint8Array.from(content));
    cursor = end;
  }
  parts.push(bytes.subarray(cursor));
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Rewrites whole sections (id, size and content), keeping every other byte as it was. */
function replaceSections(
  bytes: Uint8Array,
  replacements: { section: Section; content: number[] }[],
): Uint8Array {
  return splice(
    bytes,
    replacements.map(({ section, content }) => ({
      start: section.start,
      end: section.end,
      content: [section.id, ...encodeUleb(content.length), ...content],
    })),
  );
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface ArtifactCheckLimits {
  maxModuleBytes: number;
  memoryCapBytes: number;
}

export interface CheckOptions {
  /**
   * Also run `WebAssembly.validate` here. Synchronous and proportional to the code size, so the
   * runtime never does this on its event loop: it compiles in a sandbox process with a deadline
   * instead. Tooling and tests that have no sandbox ask for it.
   */
  validate?: boolean;
}

/**
 * Checks a WASI command module against the sandbox rules and caps its memory. Idempotent: preparing
 * an already prepared binary returns the same bytes, so the runtime can re-apply it on every load.
 */
export function checkAndPatch(
  bytes: Uint8Array,
  limits: ArtifactCheckLimits,
  options: CheckOptions = {},
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
  if (inspection.counts.codeBodies !== inspection.counts.functions) {
    refuse(
      "malformed",
      `The module declares ${inspection.counts.functions} functions but has ${inspection.counts.codeBodies} bodies`,
    );
  }
  for (const table of inspection.tables) {
    if (table.limits.flags & ~LIMIT_HAS_MAX) {
      refuse("unsupported_table", `Unsupported table limits flags 0x${table.limits.flags.toString(16)}`);
    }
    if (table.limits.initialPages > MODULE_BOUNDS.tableEntries) {
      refuse(
        "table_too_large",
        `The module declares a table of ${table.limits.initialPages} entries; at most ${MODULE_BOUNDS.tableEntries} are allowed`,
        { entries: table.limits.initialPages, maxTableEntries: MODULE_BOUNDS.tableEntries },
      );
    }
  }
  if (inspection.dataBytes > limits.memoryCapBytes) {
    refuse(
      "data_too_large",
      `The module's data segments hold ${inspection.dataBytes} bytes; memory is capped at ${limits.memoryCapBytes}`,
      { dataBytes: inspection.dataBytes, memoryCapBytes: limits.memoryCapBytes },
    );
  }
  if (options.validate && !wasmApi.validate(bytes)) {
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
  const replacements = [
    {
      section: inspection.memorySection as Section,
      content: [0x01, ...encodeLimits(memory.limits.initialPages, maximumPages)],
    },
  ];
  if (inspection.tableSection) {
    // A table without a maximum (or with a large one) could grow to V8's 10 million entries.
    const content = [...encodeUleb(inspection.tables.length)];
    for (const table of inspection.tables) {
      const maximum = Math.min(
        table.limits.maximumPages ?? MODULE_BOUNDS.tableEntries,
        MODULE_BOUNDS.tableEntries,
      );
      content.push(table.refType, ...encodeLimits(table.limits.initialPages, maximum));
    }
    replacements.push({ section: inspection.tableSection, content });
  }
  const binary = replaceSections(bytes, replacements);
  return { binary, sha256: sha256Hex(binary) };
}

/** The memory a sandbox-ready module imports: its own declaration, moved into the import section. */
export interface SandboxMemory {
  initialPages: number;
  maximumPages: number;
}

const encodeName = (text: string) => {
  const bytes = new TextEncoder().encode(text);
  return [...encodeUleb(bytes.length), ...bytes];
};

/**
 * Rewrites a prepared binary (one defined memory with a maximum, `checkAndPatch`'s output) so that
 * the memory is imported (`SANDBOX_MEMORY_IMPORT`) with exactly the declared limits. Nothing else
 * changes: the memory keeps index 0 (imported memories come first, and it is the only one), and
 * function, table and global indices do not depend on a memory import. A sandbox process can then
 * hand each instance a memory it zeroed itself instead of allocating one per call, which is what
 * made a call cost a full garbage collection every few dozen calls (V8 collects on the external
 * memory of dead instances' memories).
 */
export function importMemory(prepared: Uint8Array): { binary: Uint8Array; memory: SandboxMemory } {
  const inspection = inspectWasm(prepared);
  const memory = inspection.memories[0];
  if (
    inspection.memories.length !== 1 ||
    !memory ||
    memory.imported ||
    memory.limits.maximumPages === null ||
    inspection.memorySection === null
  ) {
    throw new Error("importMemory takes a prepared binary (one defined memory with a maximum)");
  }
  const limits = {
    initialPages: memory.limits.initialPages,
    maximumPages: memory.limits.maximumPages,
  };
  const entry = [
    ...encodeName(SANDBOX_MEMORY_IMPORT.module),
    ...encodeName(SANDBOX_MEMORY_IMPORT.name),
    KIND_MEMORY,
    ...encodeLimits(limits.initialPages, limits.maximumPages),
  ];
  const sections = readSections(prepared);
  const importSection = sections.find((section) => section.id === SECTION_IMPORT);
  const edits: { start: number; end: number; content: number[] }[] = [
    { start: inspection.memorySection.start, end: inspection.memorySection.end, content: [] },
  ];
  if (importSection) {
    const reader = new Reader(prepared, importSection.contentStart, importSection.end);
    const count = reader.uleb();
    const content = [...encodeUleb(count + 1), ...prepared.subarray(reader.pos, importSection.end), ...entry];
    edits.push({
      start: importSection.start,
      end: importSection.end,
      content: [SECTION_IMPORT, ...encodeUleb(content.length), ...content],
    });
  } else {
    // The import section goes right after the type section (or first, if there is none).
    const typeSection = sections.find((section) => section.id === SECTION_TYPE);
    const at = typeSection ? typeSection.end : 8;
    const content = [...encodeUleb(1), ...entry];
    edits.push({ start: at, end: at, content: [SECTION_IMPORT, ...encodeUleb(content.length), ...content] });
  }
  return { binary: splice(prepared, edits), memory: limits };
}
