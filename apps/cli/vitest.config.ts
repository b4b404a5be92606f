import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

// The end-to-end tests start the CLI from its TypeScript sources (3–4 s each on a loaded 2-core
// machine), so vitest's 5 s default would fail them on load, not on behaviour.
export default defineConfig(spellVitestConfig({ testTimeout: 20_000 }));
