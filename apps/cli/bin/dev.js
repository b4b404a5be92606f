#!/usr/bin/env node
// The CLI from its TypeScript sources, for a checkout with no build step (`pnpm spell …`): tsx
// compiles on import, and the workspace packages resolve to their sources through the
// `@spell/source` export condition. The installed CLI is the single built file `dist/spell.js`.
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
// Registered last, so it runs first: every resolution also matches the workspace's source condition.
register(
  `data:text/javascript,${encodeURIComponent(
    "export const resolve = (specifier, context, next) => next(specifier, { ...context, conditions: [...context.conditions, '@spell/source'] });",
  )}`,
);
await import("../src/main.ts");
