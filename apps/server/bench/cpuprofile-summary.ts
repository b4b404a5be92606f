/**
 * Self time of a `.cpuprofile` grouped by function and by package, the top entries:
 *   tsx bench/cpuprofile-summary.ts <file.cpuprofile> [top=40]
 */
import { readFile } from "node:fs/promises";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: cpuprofile-summary.ts <file.cpuprofile> [top]");
const top = Number(topArg ?? 40);
const profile = JSON.parse(await readFile(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<number, number>();
for (const [i, id] of profile.samples.entries()) {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function packageOf(url: string): string {
  if (url === "") return "(native/vm)";
  const pnpm = /node_modules\/\.pnpm\/([^/]+)\//.exec(url);
  if (pnpm) return pnpm[1]?.replace(/@\d[^_]*(_.*)?$/, "") ?? url;
  const workspace = /\/work\/main\/((?:packages|apps)\/[^/]+)\//.exec(url);
  if (workspace) return workspace[1] ?? url;
  if (url.startsWith("node:")) return url;
  return url;
}

const functions = new Map<string, number>();
const packages = new Map<string, number>();
for (const [id, time] of self) {
  const node = byId.get(id);
  if (!node) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const name = `${functionName || "(anonymous)"} ${url.replace(/.*node_modules\/\.pnpm\//, "").replace("/work/main/", "")}:${lineNumber + 1}`;
  functions.set(name, (functions.get(name) ?? 0) + time);
  const pkg = packageOf(url);
  packages.set(pkg, (packages.get(pkg) ?? 0) + time);
}
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [name, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}\n`);
  }
};
print("self time by package", packages);
print("self time by function", functions);
