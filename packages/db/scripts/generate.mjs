#!/usr/bin/env node
// Generates the Prisma client into src/generated/prisma (run on install and by `pnpm db:generate`).
//
// `prisma generate` needs no schema engine, yet the CLI insists on locating one and otherwise downloads
// it from a host that is unreachable here (and in CI). Pointing PRISMA_SCHEMA_ENGINE_BINARY at any
// executable satisfies that check; a real engine, when the environment provides one, is left alone.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
let placeholderDir;
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  placeholderDir = mkdtempSync(join(tmpdir(), "spell-prisma-"));
  const placeholder = join(placeholderDir, "schema-engine");
  writeFileSync(
    placeholder,
    "#!/bin/sh\necho 'placeholder: generation needs no schema engine' >&2\nexit 1\n",
  );
  chmodSync(placeholder, 0o755);
  env.PRISMA_SCHEMA_ENGINE_BINARY = placeholder;
}

const prismaCli = createRequire(import.meta.url).resolve("prisma/build/index.js");
const result = spawnSync(process.execPath, [prismaCli, "generate"], {
  cwd: packageDir,
  env,
  stdio: "inherit",
});
if (placeholderDir) rmSync(placeholderDir, { recursive: true, force: true });
process.exit(result.status ?? 1);
