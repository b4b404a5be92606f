export { appErrorFromTRPC, trpcCodeOf, trpcErrorBody } from "./errors.ts";
export { createOpenApiDocument } from "./openapi.ts";
export { type AppRouter, appRouter } from "./procedures/index.ts";
export type { Context, SpellErrorData } from "./trpc.ts";
