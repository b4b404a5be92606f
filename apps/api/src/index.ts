export { type AppOptions, createApp } from "./app.ts";
export {
  type BillingComposition,
  type BillingDeps,
  type ComposeOptions,
  composeBilling,
  composeEngine,
  PRICED_DEMO,
} from "./compose.ts";
export { type BillingMode, type Env, EnvError, type EnvSource, parseEnv } from "./env.ts";
export type { Logger } from "./errors.ts";
export { type AppRouter, appRouter } from "./routers/index.ts";
export { BUILTIN_DEMOS, type RunningServer, type StartOptions, startServer } from "./server.ts";
export type { Context, SpellErrorData } from "./trpc.ts";
