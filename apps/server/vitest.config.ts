import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

export default defineConfig(
  spellVitestConfig({
    include: ["src/**/*.test.ts"],
    // Each integration file starts its own app on a fresh database; two cores are shared by the team.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 60_000,
  }),
);
