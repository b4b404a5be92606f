import { AppError } from "@spell/contracts";
import type { ArtifactDescription, Runtime } from "@spell/engine";
import { echoBuiltin } from "./echo.ts";
import { type Builtin, parseBuiltinInput } from "./registry.ts";
import { resizeBuiltin } from "./resize.ts";

export const DEFAULT_BUILTINS: readonly Builtin[] = [echoBuiltin, resizeBuiltin];

/** JSON Schema of a builtin's input, for listings. */
export function builtinInputJsonSchema(builtin: Builtin): Record<string, unknown> {
  return builtin.inputSchema.toJSONSchema({ io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}

export interface BuiltinRuntime extends Runtime {
  has(name: string): boolean;
  get(name: string): Builtin | undefined;
}

/** The `builtin` runtime: functions compiled into the server, each with a zod input schema. */
export function createBuiltinRuntime(builtins: readonly Builtin[] = DEFAULT_BUILTINS): BuiltinRuntime {
  const registry = new Map(builtins.map((builtin) => [builtin.name, builtin]));
  // Listings describe builtins on every call; their JSON Schemas never change, so convert them once.
  const descriptions = new Map<string, ArtifactDescription>(
    builtins.map((builtin) => [
      builtin.name,
      { description: builtin.description, inputSchema: builtinInputJsonSchema(builtin) },
    ]),
  );
  return {
    kind: "builtin",
    has: (name) => registry.has(name),
    get: (name) => registry.get(name),
    prepare(artifact) {
      if (!("builtin" in artifact)) {
        throw new AppError("ARTIFACT_INVALID", 'A builtin spell\'s artifact is {"builtin": …}', {
          reason: "artifact_mismatch",
        });
      }
      if (!registry.has(artifact.builtin)) {
        throw new AppError("ARTIFACT_INVALID", `No builtin named ${artifact.builtin}`, {
          builtin: artifact.builtin,
        });
      }
      return { builtin: artifact.builtin, apiEndpoint: null, wasmBinary: null, wasmSha256: null };
    },
    async run({ spell, input, signal }) {
      // Builtins are short and run on this thread: a run canceled before it starts does not start.
      if (signal?.aborted) {
        throw new AppError("EXECUTION_CANCELED", "The execution was canceled while it ran", {
          reason: "canceled",
        });
      }
      const name = spell.artifact.builtin;
      const builtin = name === null ? undefined : registry.get(name);
      if (!builtin) {
        throw new AppError("RUNTIME_ERROR", `builtin ${name ?? "(none)"} is not available on this server`, {
          builtin: name,
        });
      }
      return { output: await builtin.run(parseBuiltinInput(builtin, input)) };
    },
    describe: (artifact) => (artifact.builtin === null ? null : (descriptions.get(artifact.builtin) ?? null)),
    close: async () => {},
  };
}
