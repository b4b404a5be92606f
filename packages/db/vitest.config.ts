import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

export default defineConfig(
  spellVitestConfig({
    // Real Postgres (or an embedded PGlite) on a small shared machine: generous hooks, bounded tests.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  }),
);
