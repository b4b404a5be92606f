export { type AppOptions, createApp } from "./app.ts";
export { type BillingComposition, type BillingDeps, composeBilling, PRICED_DEMO } from "./compose-billing.ts";
export { type ComposeOptions, composeEngine } from "./compose-engine.ts";
export { type BillingMode, type Env, EnvError, type EnvSource, parseEnv } from "./env.ts";
export type { Logger } from "./errors.ts";
export { BUILTIN_DEMOS, type RunningServer, type StartOptions, startServer } from "./server.ts";
