import { createTokenVerifier, type TrustedIssuerConfig } from "@spell/auth";
import { AppError } from "@spell/contracts";
import {
  type AdminStore,
  type ArtifactPreparer,
  type Billing,
  createApiRuntime,
  createEngine,
  createWasmRuntime,
  deriveSpellSigningSecret,
  type Engine,
  type ExecutionLog,
  prepareWasmArtifact,
  type Runtime,
  type SpellStore,
  type UserStore,
  validateApiArtifact,
  type WasmLimits,
} from "@spell/engine";
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
  const runtimes: Runtime[] = [];
  const preparers: Partial<Record<"api" | "wasm", ArtifactPreparer>> = {};
  let signingSecretFor: ((spellId: string) => string) | undefined;

  if (options.wasm !== false) {
    const limits = wasmLimits(env);
    runtimes.push(
      createWasmRuntime({
        loadBinary: (artifactId) => ports.spells.loadWasmBinary(artifactId),
        limits,
        ...(env.wasm.workers !== undefined ? { poolSize: env.wasm.workers } : {}),
      }),
    );
    preparers.wasm = (artifact) => {
      if (!("wasmBase64" in artifact)) throw mismatch("wasm", "wasmBase64");
      const { binary, sha256 } = prepareWasmArtifact(Buffer.from(artifact.wasmBase64, "base64"), limits);
      return { builtin: null, apiEndpoint: null, wasmBinary: binary, wasmSha256: sha256 };
    };
  }

  const signingKey = options.signingKey;
  if (signingKey !== undefined) {
    const api = {
      allowedHosts: env.api.allowedHosts,
      requireHttps: env.production,
      secrets: env.api.secrets,
    };
    runtimes.push(createApiRuntime({ ...api, signingKey }));
    preparers.api = (artifact, config) => {
      if (!("apiEndpoint" in artifact)) throw mismatch("api", "apiEndpoint");
      const { endpoint } = validateApiArtifact(artifact.apiEndpoint, config, api);
      return { builtin: null, apiEndpoint: endpoint, wasmBinary: null, wasmSha256: null };
    };
    signingSecretFor = (spellId) => deriveSpellSigningSecret(signingKey, spellId);
  }

  return createEngine({
    authenticate: (authorization) => verifier.verify(authorization),
    ...ports,
    billing: options.billing,
    runtimes,
    preparers,
    ...(signingSecretFor ? { signingSecretFor } : {}),
  });
}

function mismatch(runtime: string, field: string): AppError {
  return new AppError("ARTIFACT_INVALID", `A ${runtime} spell's artifact is {"${field}": …}`, {
    reason: "artifact_mismatch",
  });
}
