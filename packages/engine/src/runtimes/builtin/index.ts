import { AppError } from "@spell/contracts";
import type { Runtime } from "../../ports.ts";
import { echoBuiltin } from "./echo.ts";
import { type Builtin, parseBuiltinInput } from "./registry.ts";
import { resizeBuiltin } from "./resize.ts";

export { type Builtin, defineBuiltin } from "./registry.ts";

export const DEFAULT_BUILTINS: readonly Builtin[] = [echoBuiltin, resizeBuiltin];

/** JSON Schema of each builtin's input, for listings. */
export function builtinInputJsonSchema(builtin: Builtin): Record<string, unknown> {
  return builtin.inputSchema.toJSONSchema({ io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}

export interface BuiltinRuntime extends Runtime {
  has(name: string): boolean;
  get(name: string): Builtin | undefined;
}

export function createBuiltinRuntime(builtins: readonly Builtin[] = DEFAULT_BUILTINS): BuiltinRuntime {
  const registry = new Map(builtins.map((builtin) => [builtin.name, builtin]));
  return {
    kind: "builtin",
    has: (name) => registry.has(name),
    get: (name) => registry.get(name),
    async run({ spell, input }) {
      const name = spell.artifact.builtin;
      const builtin = name === null ? undefined : registry.get(name);
      if (!builtin) {
        throw new AppError("RUNTIME_ERROR", `builtin ${name ?? "(none)"} is not available on this server`, {
          builtin: name,
        });
      }
      return { output: await builtin.run(parseBuiltinInput(builtin, input)) };
    },
  };
}
