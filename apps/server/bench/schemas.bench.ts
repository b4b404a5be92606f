/**
 * Validation cost: POST /api/spell/execute of an echo spell with a 20-property input and output
 * schema vs the same spell without schemas, same input. Target: ≥ 0.9x the schema-less throughput.
 * One in-process server (the test harness: a fresh database on DATABASE_URL's server, else
 * embedded); both spells are measured in alternating rounds so drift hits both alike.
 *
 *   pnpm --filter @spell/server exec tsx --conditions=@spell/source bench/schemas.bench.ts
 *   BENCH_DURATION=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS=10
 */
import autocannon from "autocannon";
import { startHarness } from "../src/testutil/harness.ts";

const DURATION = Number(process.env.BENCH_DURATION ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

const properties: Record<string, unknown> = {};
const input: Record<string, unknown> = {};
for (let i = 0; i < 20; i++) {
  const kind = ["string", "integer", "boolean", "number"][i % 4] as string;
  properties[`field${i}`] = kind === "string" ? { type: "string", maxLength: 64 } : { type: kind };
  input[`field${i}`] = kind === "string" ? `value ${i}` : kind === "boolean" ? i % 2 === 0 : i;
}
const schema = { type: "object", properties, required: Object.keys(properties), additionalProperties: false };

const h = await startHarness();
try {
  await h.publish({ slug: "bench-plain@v1", runtime: "builtin", artifact: { builtin: "echo" } });
  await h.publish({
    slug: "bench-typed@v1",
    runtime: "builtin",
    artifact: { builtin: "echo" },
    inputSchema: schema,
    outputSchema: schema,
  });
  const caller = await h.user("bench");

  const run = async (slug: string) => {
    const result = await autocannon({
      url: `${h.url}/api/spell/execute`,
      method: "POST",
      connections: CONNECTIONS,
      duration: DURATION,
      headers: { "content-type": "application/json", authorization: `Bearer ${caller.token}` },
      body: JSON.stringify({ spell: slug, input }),
    });
    if (result.non2xx > 0) throw new Error(`${slug}: ${result.non2xx} non-2xx answers`);
    return result.requests.average;
  };

  await run("bench-plain@v1"); // warm-up: JIT, pools, the schema compiled once
  await run("bench-typed@v1");
  const plain: number[] = [];
  const typed: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await run("bench-plain@v1"));
    typed.push(await run("bench-typed@v1"));
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const ratio = mean(typed) / mean(plain);
  console.log(
    `execute without schemas: ${mean(plain).toFixed(0)} req/s; with a 20-property input+output schema: ` +
      `${mean(typed).toFixed(0)} req/s; ratio ${ratio.toFixed(3)}x (target >= 0.9x) ${ratio >= 0.9 ? "PASS" : "FAIL"}`,
  );
  if (ratio < 0.9) process.exitCode = 1;
} finally {
  await h.close();
}
