import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

export default defineConfig(
  spellVitestConfig({
    // npm installs from the registry (or its cache) and a real server start: minutes, not seconds.
    testTimeout: 120_000,
    hookTimeout: 300_000,
  }),
);
