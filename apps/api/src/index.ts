export { type AppRouter, appRouter } from "./routers/index.ts";
export type { Context, SpellErrorData } from "./trpc.ts";
