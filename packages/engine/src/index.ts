export { createEngine } from "./engine.ts";
export type * from "./engine-types.ts";
export type * from "./ports.ts";
export { canonicalJson, hashExecutionRequest } from "./request-hash.ts";
export { attachRuntimeLog, runtimeLogOf } from "./runtime-log.ts";
export * from "./runtimes/api/index.ts";
export {
  type Builtin,
  type BuiltinRuntime,
  builtinInputJsonSchema,
  createBuiltinRuntime,
  DEFAULT_BUILTINS,
  defineBuiltin,
} from "./runtimes/builtin/index.ts";
export * from "./runtimes/wasm/index.ts";
export { canRun } from "./visibility.ts";
