import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkWorkspace } from "./check-deps.mjs";

let root;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function workspace(files) {
  root = mkdtempSync(join(tmpdir(), "check-deps-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), typeof content === "string" ? content : JSON.stringify(content));
  }
  return root;
}

const lib = { name: "@x/lib", exports: { ".": "./src/index.ts", "./testing": "./src/testing.ts" } };
const app = { name: "@x/app", dependencies: { "@x/lib": "workspace:*" } };

describe("the dependency rule", () => {
  it("accepts apps importing packages through their entry points", () => {
    const dir = workspace({
      "packages/lib/package.json": lib,
      "packages/lib/src/index.ts": 'export * from "./inner.ts";',
      "apps/app/package.json": app,
      "apps/app/src/main.ts": 'import { a } from "@x/lib";\nimport { t } from "@x/lib/testing";',
    });
    expect(checkWorkspace(dir)).toEqual([]);
  });

  it("refuses a package that imports an app, in code and in its manifest", () => {
    const dir = workspace({
      "packages/lib/package.json": { ...lib, devDependencies: { "@x/app": "workspace:*" } },
      "packages/lib/src/index.ts": 'import type { App } from "@x/app";',
      "apps/app/package.json": app,
    });
    const problems = checkWorkspace(dir);
    expect(problems).toContain("packages/lib/package.json: a package depends on the app @x/app");
    expect(problems).toContain("packages/lib/src/index.ts: a package imports the app @x/app");
  });

  it("refuses deep imports into another package's internals", () => {
    const dir = workspace({
      "packages/lib/package.json": lib,
      "apps/app/package.json": app,
      "apps/app/src/main.ts": 'import { inner } from "@x/lib/src/inner.ts";',
    });
    expect(checkWorkspace(dir)).toEqual([
      'apps/app/src/main.ts: "@x/lib/src/inner.ts" is not an entry point of @x/lib (its internals are private)',
    ]);
  });

  it("refuses relative paths that leave the package", () => {
    const dir = workspace({
      "packages/lib/package.json": lib,
      "apps/app/package.json": app,
      "apps/app/src/main.ts": ["const m = await import(", '"../../../packages/lib/src/index.ts");'].join(""),
    });
    expect(checkWorkspace(dir)).toEqual([
      'apps/app/src/main.ts: "../../../packages/lib/src/index.ts" reaches outside its package; import the package instead',
    ]);
  });

  it("refuses an import of a workspace package the manifest does not declare", () => {
    const dir = workspace({
      "packages/lib/package.json": lib,
      "apps/app/package.json": { name: "@x/app" },
      "apps/app/src/main.ts": 'import { a } from "@x/lib";',
    });
    expect(checkWorkspace(dir)).toEqual([
      "apps/app/src/main.ts: imports @x/lib, which apps/app/package.json does not declare",
    ]);
  });
});
