// Builds the CLI into one file, `dist/spell.js`, with every dependency inside: an installed `spell`
// starts by reading a single module (no TypeScript loader, no resolution of a dependency tree).
import { chmod } from "node:fs/promises";
import { build } from "esbuild";

const outfile = new URL("./dist/spell.js", import.meta.url).pathname;

await build({
  entryPoints: [new URL("./src/main.ts", import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // The workspace packages are bundled from their sources.
  conditions: ["@spell/source"],
  minifySyntax: true,
  legalComments: "linked",
  banner: {
    // Bundled CommonJS dependencies (commander) call require() for Node's built-ins.
    js: [
      "#!/usr/bin/env node",
      'import { createRequire as __spellCreateRequire } from "node:module";',
      "const require = __spellCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  logLevel: "warning",
});
await chmod(outfile, 0o755);
