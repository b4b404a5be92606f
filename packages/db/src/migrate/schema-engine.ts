import { AsyncLocalStorage } from "node:async_hooks";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import * as glue from "@prisma/schema-engine-wasm/schema_engine_bg";
import pg from "pg";

/**
 * Prisma's schema engine compiled to WebAssembly, driven through the pg driver adapter. The CLI's native
 * engine is a binary downloaded from a host that is unreachable where Spell is built and run, so
 * migrations are applied (and new ones diffed) with this build instead. It writes the same
 * `_prisma_migrations` bookkeeping, so the stock `prisma migrate deploy` stays interchangeable.
 */
export type SchemaEngine = glue.SchemaEngine;

/** Node's WebAssembly global; the shared tsconfig carries no DOM/WebAssembly lib typings. */
function wasmRuntime() {
  return (
    globalThis as unknown as {
      WebAssembly: {
        instantiate(
          bytes: Uint8Array,
          imports: Record<string, Record<string, unknown>>,
        ): Promise<{ instance: { exports: Record<string, unknown> } }>;
      };
    }
  ).WebAssembly;
}

let instantiated: Promise<void> | undefined;
let lastPanic = "";

/** The message of the last Rust panic inside the engine, to explain an otherwise bare RuntimeError. */
export function lastEnginePanic(): string {
  return lastPanic;
}

/** wasm-bindgen's "bundler" output imports the .wasm as an ES module, which Node 20 cannot: wire it by hand. */
function instantiate(): Promise<void> {
  instantiated ??= (async () => {
    // The glue reports Rust panics through this global (Prisma's CLI installs the same registry).
    const registry = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
    registry.PRISMA_WASM_PANIC_REGISTRY ??= {
      set_message(message: string) {
        lastPanic = message;
      },
    };
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = await readFile(gluePath.replace(/\.js$/, ".wasm"));
    const { instance } = await wasmRuntime().instantiate(bytes, {
      "./schema_engine_bg.js": withUnrefTimers(glue),
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports as unknown as { __wbindgen_start(): void }).__wbindgen_start();
  })();
  return instantiated;
}

/**
 * The engine arms 10 s timers (connection timeouts) that outlive the work; unref them so a finished
 * migration does not keep the process alive for ten seconds.
 */
function withUnrefTimers(imports: typeof glue): Record<string, unknown> {
  const patched: Record<string, unknown> = { ...imports };
  for (const [name, value] of Object.entries(imports)) {
    if (name.startsWith("__wbg_setTimeout_") && typeof value === "function") {
      patched[name] = (...args: unknown[]) => {
        const timer = (value as (...a: unknown[]) => unknown)(...args);
        (timer as { unref?: () => void } | null)?.unref?.();
        return timer;
      };
    }
  }
  return patched;
}

export interface EngineHandle {
  engine: SchemaEngine;
  /** Frees the engine and closes its connection pool. */
  close(): Promise<void>;
}

/**
 * Introspection reads catalog columns of Postgres' internal `"char"` type (OID 18), which adapter-pg
 * 7.10 refuses as an unsupported column type while the engine expects them typed as characters. The
 * fields are read as text and then reported as `Character`; applying migrations never needs this.
 */
class IntrospectingPrismaPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    type Fields = { dataTypeID: number }[];
    const io = adapter as unknown as {
      performIO(query: unknown): Promise<{ fields: Fields }>;
      queryRaw(query: unknown): Promise<{ columnTypes: number[] }>;
    };
    const charColumns = new AsyncLocalStorage<number[]>();
    const performIO = io.performIO.bind(adapter);
    io.performIO = async (query) => {
      const result = await performIO(query);
      result.fields.forEach((field, index) => {
        if (field.dataTypeID !== PG_CHAR_OID) return;
        field.dataTypeID = PG_TEXT_OID;
        charColumns.getStore()?.push(index);
      });
      return result;
    };
    const queryRaw = io.queryRaw.bind(adapter);
    io.queryRaw = (query) => {
      const indices: number[] = [];
      return charColumns.run(indices, async () => {
        const result = await queryRaw(query);
        for (const index of indices) result.columnTypes[index] = ColumnTypeEnum.Character;
        return result;
      });
    };
    return adapter;
  }
}
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

export async function openSchemaEngine(
  url: string,
  schema: { path: string; content: string },
  options: { introspection?: boolean } = {},
): Promise<EngineHandle> {
  await instantiate();
  // Our own pool, so close() can end it at once instead of waiting for idle connections to time out.
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const factory = options.introspection ? new IntrospectingPrismaPg(pool) : new PrismaPg(pool);
  const adapter = bindMigrationAwareSqlAdapterFactory(factory);
  let engine: SchemaEngine;
  try {
    engine = await glue.SchemaEngine.new(
      { datamodels: [[schema.path, schema.content]] },
      // The engine reports progress as JSON log lines; failures arrive as rejected promises instead.
      () => {},
      adapter,
    );
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    engine,
    async close() {
      engine.free();
      await pool.end();
    },
  };
}
