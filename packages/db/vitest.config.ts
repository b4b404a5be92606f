import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Real Postgres (or an embedded PGlite) on a small shared machine: generous hooks, bounded tests.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
});
