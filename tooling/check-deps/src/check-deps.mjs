// The workspace's dependency rule, checked on every `pnpm lint`: apps → packages, never back, and a
// package is reached only through its declared entry points (never `other/src/...`, never `../other`).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const SOURCE = /\.(?:[cm]?[jt]s|tsx)$/;
const SKIP_DIRS = new Set(["node_modules", "dist", "generated", ".turbo", ".spell", "coverage"]);
// `import … from "x"`, `export … from "x"`, `import("x")`, `import "x"`, `require("x")`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"'\n]+)["']/g;

/** Every workspace package: its folder, its kind (from the top-level folder) and its manifest. */
export function readWorkspace(rootDir) {
  const root = resolve(rootDir);
  const packages = [];
  for (const group of ["apps", "packages", "tooling"]) {
    const groupDir = join(root, group);
    let entries;
    try {
      entries = readdirSync(groupDir);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) {
      const dir = join(groupDir, entry);
      let manifest;
      try {
        manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      } catch {
        continue;
      }
      // tooling/ (tests of the whole product, build helpers) sits above both and may use apps.
      const kind = group === "apps" ? "app" : group === "packages" ? "package" : "tooling";
      packages.push({ dir, kind, manifest });
    }
  }
  return packages;
}

function sourceFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir)) {
    if (SKIP_DIRS.has(entry)) continue;
    const path = join(dir, entry);
    const stat = statSync(path);
    if (stat.isDirectory()) files.push(...sourceFiles(path));
    else if (SOURCE.test(entry) && !entry.endsWith(".d.ts")) files.push(path);
  }
  return files;
}

/** The subpaths a manifest exports (`"."`, `"./testing"`, …); a package without `exports` exports ".". */
function exportedSubpaths(manifest) {
  const exports = manifest.exports;
  if (exports === undefined || typeof exports === "string") return new Set(["."]);
  const keys = Object.keys(exports);
  return new Set(keys.some((key) => key.startsWith(".")) ? keys : ["."]);
}

function splitSpecifier(specifier) {
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const rest = specifier.slice(name.length);
  return { name, subpath: rest === "" ? "." : `.${rest}` };
}

/** Every violation in the workspace at `root`, as human-readable lines; empty when the rule holds. */
export function checkWorkspace(rootDir) {
  const root = resolve(rootDir);
  const packages = readWorkspace(root);
  const byName = new Map(packages.map((pkg) => [pkg.manifest.name, pkg]));
  const problems = [];

  for (const pkg of packages) {
    const where = relative(root, pkg.dir);
    const declared = {
      ...pkg.manifest.dependencies,
      ...pkg.manifest.devDependencies,
      ...pkg.manifest.peerDependencies,
      ...pkg.manifest.optionalDependencies,
    };
    for (const name of Object.keys(declared)) {
      const target = byName.get(name);
      if (pkg.kind === "package" && target?.kind === "app") {
        problems.push(`${where}/package.json: a package depends on the app ${name}`);
      }
    }

    for (const file of sourceFiles(pkg.dir)) {
      const text = readFileSync(file, "utf8");
      const at = relative(root, file);
      for (const match of text.matchAll(SPECIFIER)) {
        const specifier = match[1];
        if (specifier.startsWith(".")) {
          const target = resolve(dirname(file), specifier);
          if (target !== pkg.dir && !target.startsWith(pkg.dir + sep)) {
            problems.push(`${at}: "${specifier}" reaches outside its package; import the package instead`);
          }
          continue;
        }
        const { name, subpath } = splitSpecifier(specifier);
        const target = byName.get(name);
        if (target === undefined || target === pkg) continue;
        if (pkg.kind === "package" && target.kind === "app") {
          problems.push(`${at}: a package imports the app ${name}`);
        }
        if (!exportedSubpaths(target.manifest).has(subpath)) {
          problems.push(`${at}: "${specifier}" is not an entry point of ${name} (its internals are private)`);
        }
        if (declared[name] === undefined) {
          problems.push(`${at}: imports ${name}, which ${where}/package.json does not declare`);
        }
      }
    }
  }
  return problems;
}
