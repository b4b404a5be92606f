import { SpanStatusCode, trace } from "@opentelemetry/api";
import { createTokenVerifier, type TrustedIssuerConfig } from "@spell/auth";
import type { WebhookStore } from "@spell/db";
import {
  type AdminStore,
  type AsyncExecutionStore,
  type Billing,
  createEngine,
  type Engine,
  type ExecutionLog,
  type RunQueue,
  type Runtime,
  type SpellStore,
  type UserStore,
} from "@spell/engine";
import { createApiRuntime } from "@spell/runtime-api";
import { createBuiltinRuntime } from "@spell/runtime-builtin";
import { createWasmRuntime, type WasmLimits } from "@spell/runtime-wasm";
import { createSchemaValidator } from "@spell/schemas";
import type { Env } from "./env.ts";
import type { Metrics } from "./observability/metrics.ts";
import { createRunWebhooks } from "./webhooks/run-webhooks.ts";

const tracer = trace.getTracer("@spell/server");

/** The engine's storage ports, as `@spell/db`'s `createDatabase` provides them. */
export interface EnginePorts {
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
  asyncExecutions?: AsyncExecutionStore;
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
  /** Where the wasm pool's counts are reported (`/metrics`). */
  metrics?: Pick<Metrics, "watchWasmPool">;
  /** The job engine of asynchronous executions (pg-boss on a PostgreSQL server); unset: `Prefer` is refused. */
  runQueue?: RunQueue;
  /**
   * Run webhooks' outbox, when this server delivers them (a job engine and a signing secret);
   * unset: a call with a webhook is refused (503), as `Prefer` is without a job engine.
   */
  webhooks?: WebhookStore;
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
    const wasm = createWasmRuntime({
      loadBinary: (artifactId) => ports.spells.loadWasmBinary(artifactId),
      limits: wasmLimits(env),
      ...(env.wasm.workers !== undefined ? { poolSize: env.wasm.workers } : {}),
    });
    options.metrics?.watchWasmPool(() => wasm.stats());
    runtimes.push(wasm);
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
  const engine = createEngine({
    // A `spell.token` span when tracing is on; without the SDK the API's no-op tracer only calls through.
    authenticate: (authorization) =>
      tracer.startActiveSpan("spell.token", (span) =>
        verifier.verify(authorization).then(
          (caller) => {
            span.end();
            return caller;
          },
          (error: unknown) => {
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.end();
            throw error;
          },
        ),
      ),
    ...ports,
    billing: options.billing,
    ...(options.runQueue ? { runQueue: options.runQueue } : {}),
    runtimes,
    ...(env.runs.staleRunningMs !== undefined ? { staleRunningMs: env.runs.staleRunningMs } : {}),
    // Spells' declared input/output JSON Schemas, compiled once per artifact version.
    schemas: createSchemaValidator(),
  });
  if (options.webhooks && options.runQueue)
    engine.webhooks = createRunWebhooks(env.webhooks, options.webhooks);
  return engine;
}
