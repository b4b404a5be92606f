export type * from "./engine-types.ts";
export type * from "./ports.ts";
export * from "./runtimes/api/index.ts";
export * from "./runtimes/wasm/index.ts";
