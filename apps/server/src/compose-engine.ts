import { createTokenVerifier, type TrustedIssuerConfig } from "@spell/auth";
import {
  type AdminStore,
  type Billing,
  createEngine,
  type Engine,
  type ExecutionLog,
  type Runtime,
  type SpellStore,
  type UserStore,
} from "@spell/engine";
import { createApiRuntime } from "@spell/runtime-api";
import { createBuiltinRuntime } from "@spell/runtime-builtin";
import { createWasmRuntime, type WasmLimits } from "@spell/runtime-wasm";
import { createSchemaValidator } from "@spell/schemas";
import type { Env } from "./env.ts";

/** The engine's storage ports, as `@spell/db`'s `createDatabase` provides them. */
export interface EnginePorts {
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
}

function wasmLimits(env: Env): Partial<WasmLimits> {
  const limits: Partial<WasmLimits> = {};
  if (env.wasm.memoryMb !== undefined) limits.memoryCapBytes = env.wasm.memoryMb * 1024 * 1024;
  if (env.wasm.timeoutMs !== undefined) limits.defaultTimeoutMs = env.wasm.timeoutMs;
  if (env.wasm.maxTimeoutMs !== undefined) limits.maxTimeoutMs = env.wasm.maxTimeoutMs;
  if (env.wasm.outputBytes !== undefined) limits.stdoutCapBytes = env.wasm.outputBytes;
  if (env.wasm.maxModuleBytes !== undefined) limits.maxModuleBytes = env.wasm.maxModuleBytes;
  // A wasm input never exceeds what the API accepted as a body.
  limits.stdinCapBytes = env.bodyLimit;
  return limits;
}

export interface ComposeOptions {
  env: Env;
  ports: EnginePorts;
  /** Everyone whose tokens are accepted (the dev issuer is added by the caller outside production). */
  issuers: TrustedIssuerConfig[];
  billing: Billing;
  /** Off in tests that need no wasm: the pool's worker threads are not free on a small machine. */
  wasm?: boolean;
  /** The key api spells' signing secrets derive from; unset disables the api runtime. */
  signingKey?: string;
}

/** The one place where the engine is assembled from its adapters and the configuration. */
export function composeEngine(options: ComposeOptions): Engine {
  const { env, ports } = options;
  const verifier = createTokenVerifier({
    issuers: options.issuers,
    audience: env.jwtAudience,
    cacheSize: env.tokenCacheSize,
  });
  const runtimes: Runtime[] = [createBuiltinRuntime()];
  if (options.wasm !== false) {
    runtimes.push(
      createWasmRuntime({
        loadBinary: (artifactId) => ports.spells.loadWasmBinary(artifactId),
        limits: wasmLimits(env),
        ...(env.wasm.workers !== undefined ? { poolSize: env.wasm.workers } : {}),
      }),
    );
  }
  if (options.signingKey !== undefined) {
    runtimes.push(
      createApiRuntime({
        allowedHosts: env.api.allowedHosts,
        requireHttps: env.production,
        secrets: env.api.secrets,
        signingKey: options.signingKey,
      }),
    );
  }
  return createEngine({
    authenticate: (authorization) => verifier.verify(authorization),
    ...ports,
    billing: options.billing,
    runtimes,
    // Spells' declared input/output JSON Schemas, compiled once per artifact version.
    schemas: createSchemaValidator(),
  });
}
