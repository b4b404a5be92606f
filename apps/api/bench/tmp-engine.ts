import { createNoBilling } from "@spell/billing";
import { createDatabase } from "@spell/db";
import { createTestDatabase } from "@spell/db/testing";
import { composeEngine } from "../src/compose.ts";
import { parseEnv } from "../src/env.ts";
import { BUILTIN_DEMOS, seedDemoSpells } from "../src/server.ts";

const t = await createTestDatabase({ url: "postgresql://postgres@127.0.0.1:5432/test" });
const db = createDatabase({ url: t.url, poolSize: 10 });
const engine = composeEngine({
  env: parseEnv({}),
  ports: db,
  issuers: [],
  billing: createNoBilling(),
  wasm: false,
});
await seedDemoSpells(engine, db, BUILTIN_DEMOS);
const user = await db.users.ensureUser("u1");
const session = { caller: { userId: "u1", isAdmin: false }, user };
async function measure(name: string, op: () => Promise<unknown>) {
  const end = Date.now() + 3000;
  let n = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (Date.now() < end) {
        await op();
        n++;
      }
    }),
  );
  console.log(name.padEnd(14), Math.round(n / 3), "ops/s");
}
await measure("ensureUser", () => db.users.ensureUser("u1"));
await measure("findBySlug", () => db.spells.findBySlug("echo@v1", "u1"));
await measure("execute", () => engine.execute(session, { spell: "echo@v1", input: { a: 1 } }));
await engine.close();
await db.close();
await t.drop();
