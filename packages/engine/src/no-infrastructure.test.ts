import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The engine core depends on ports only: importing `@spell/engine` must load no image library, HTTP
 * client, resolver, thread pool, database driver, payment SDK or web framework. Adapters, the
 * runtimes included, are separate packages injected by the app.
 */
const FORBIDDEN = [
  /^sharp$/,
  /^undici$/,
  /^(node:)?dns(\/|$)/,
  /^(node:)?worker_threads$/,
  /^(node:)?child_process$/,
  /^(node:)?(net|http|https|tls)$/,
  /^@prisma\//,
  /^pg$/,
  /^stripe$/,
  /^express$/,
  /^jose$/,
  /^@spell\/(db|billing|auth|api|runtime-.*)$/,
];

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"'\n]+)["']/g;

/** Every bare specifier reachable through relative imports from `entry`, with the files that name it. */
function bareImportsOf(entry: string, read: (path: string) => string = (p) => readFileSync(p, "utf8")) {
  const bare = new Map<string, string[]>();
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, specifier] of read(file).matchAll(SPECIFIER)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith(".")) pending.push(join(dirname(file), specifier));
      else bare.set(specifier, [...(bare.get(specifier) ?? []), relative(PACKAGE_DIR, file)]);
    }
  }
  return { bare, files: seen };
}

describe("the engine core", () => {
  const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as {
    exports: Record<string, { "@spell/source": string }>;
    dependencies: Record<string, string>;
  };

  it.each(Object.entries(manifest.exports))("entry %s imports no infrastructure", (_name, entry) => {
    const { bare, files } = bareImportsOf(join(PACKAGE_DIR, entry["@spell/source"]));
    expect(files.size).toBeGreaterThan(0);
    const offending = [...bare].filter(([specifier]) => FORBIDDEN.some((rule) => rule.test(specifier)));
    expect(Object.fromEntries(offending)).toEqual({});
  });

  it("reaches every use case from its main entry (the walk follows the real graph)", () => {
    const { bare, files } = bareImportsOf(join(PACKAGE_DIR, "src/index.ts"));
    const names = [...files].map((file) => relative(PACKAGE_DIR, file));
    for (const module of [
      "execute/execute-spell.ts",
      "publish/publish.ts",
      "admin/admin.ts",
      "queries/me.ts",
    ]) {
      expect(names).toContain(`src/${module}`);
    }
    expect([...bare.keys()]).toContain("@spell/contracts");
  });

  it("would notice a runtime creeping back in", () => {
    const sources: Record<string, string> = {
      "/x/index.ts": 'export { run } from "./run.ts";',
      "/x/run.ts": 'import { Worker } from "node:worker_threads";\nimport sharp from "sharp";',
    };
    const { bare } = bareImportsOf("/x/index.ts", (path) => sources[path] ?? "");
    expect([...bare.keys()].filter((specifier) => FORBIDDEN.some((rule) => rule.test(specifier)))).toEqual([
      "node:worker_threads",
      "sharp",
    ]);
  });

  it("declares no infrastructure dependency", () => {
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["@spell/contracts", "zod"]);
  });
});
