/**
 * The few WebAssembly JS-API members we use, typed locally: the repo's `lib` has no DOM, and a global
 * declaration here would leak into (or clash with) every package that type-checks the engine.
 */
export interface CompiledModule {
  readonly __compiledWasmModule?: never;
}

export interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<CompiledModule>;
}

export const wasmApi = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
