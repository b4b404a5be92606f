import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

// `pnpm test:stress`: the long parts of the adversarial suite, one file at a time (latency figures
// would otherwise measure each other). Not part of `pnpm test`.
export default defineConfig(
  spellVitestConfig({
    include: ["src/**/*.stress.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  }),
);
