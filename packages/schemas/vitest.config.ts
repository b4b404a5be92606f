import { spellVitestConfig } from "@spell/vitest-preset";
import { defineConfig } from "vitest/config";

export default defineConfig(spellVitestConfig());
