export { WASM_DEMOS, type WasmDemo } from "./demos.ts";
export {
  createWasmRuntime,
  DEFAULT_WASM_LIMITS,
  prepareWasmArtifact,
  WASM_MEMORY_CAP_CEILING_BYTES,
  type WasmLimits,
  type WasmPoolStats,
  type WasmRuntime,
  type WasmRuntimeOptions,
} from "./runtime.ts";
