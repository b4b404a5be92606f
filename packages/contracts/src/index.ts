export * from "./common.ts";
export * from "./errors.ts";
export * from "./procedures/admin.ts";
export * from "./procedures/billing.ts";
export * from "./procedures/me.ts";
export * from "./procedures/spell.ts";
export * from "./slug.ts";
export * from "./trpc-codes.ts";
