export { type Builtin, defineBuiltin, parseBuiltinInput } from "./registry.ts";
export {
  type BuiltinRuntime,
  builtinInputJsonSchema,
  createBuiltinRuntime,
  DEFAULT_BUILTINS,
} from "./runtime.ts";
