#!/usr/bin/env node
import { checkWorkspace } from "./check-deps.mjs";

const problems = checkWorkspace(process.argv[2] ?? process.cwd());
for (const problem of problems) console.error(`check-deps: ${problem}`);
if (problems.length > 0) {
  console.error(
    `check-deps: ${problems.length} violation(s) of "apps → packages, through entry points only"`,
  );
  process.exit(1);
}
