// Tests run the workspace packages from their TypeScript sources: every package exports
// `"@spell/source": "./src/index.ts"` beside its built `dist/` entry, and this condition selects it —
// in Vite's resolver, and (through NODE_OPTIONS) in every child process a test starts.
export const SOURCE_CONDITION = "@spell/source";

const conditions = [SOURCE_CONDITION, "module", "node", "development|production"];
const nodeOptions = [process.env.NODE_OPTIONS, `--conditions=${SOURCE_CONDITION}`].filter(Boolean).join(" ");

/** The shared part of every package's vitest config; spread it and add the package's own `test` options. */
export const spellPreset = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: [SOURCE_CONDITION] } },
  test: { env: { NODE_OPTIONS: nodeOptions } },
};

/** `spellPreset` with the package's own `test` options merged in. */
export function spellVitestConfig(test = {}) {
  return {
    ...spellPreset,
    test: { ...spellPreset.test, ...test, env: { ...spellPreset.test.env, ...test.env } },
  };
}
