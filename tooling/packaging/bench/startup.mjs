// `spell --version` start-up against `node -e 0`, measured in the same run, interleaved, as a ratio
// (target ≤ 3x). Each sample is one whole process: spawn, load, print, exit.
//   pnpm --filter @spell/packaging bench        BENCH_STARTUP_ROUNDS=30
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../../apps/cli/dist/spell.js", import.meta.url));
const rounds = Number(process.env.BENCH_STARTUP_ROUNDS ?? 30);

function sample(args) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return ms;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const node = [];
const spell = [];
sample(["-e", "0"]);
sample([BIN, "--version"]);
for (let round = 0; round < rounds; round++) {
  node.push(sample(["-e", "0"]));
  spell.push(sample([BIN, "--version"]));
}
const ratio = median(spell) / median(node);
console.log(`spell --version start-up (${rounds} interleaved rounds, medians):`);
console.log(
  `  node -e 0          ${median(node).toFixed(1)} ms  (min ${Math.min(...node).toFixed(1)}, max ${Math.max(...node).toFixed(1)})`,
);
console.log(
  `  spell --version    ${median(spell).toFixed(1)} ms  (min ${Math.min(...spell).toFixed(1)}, max ${Math.max(...spell).toFixed(1)})`,
);
console.log(`  ratio              ${ratio.toFixed(2)}x  (target ≤ 3x)`);
