import { execFileSync } from "node:child_process";
import type { TrustedIssuerConfig } from "@spell/auth";
import { createNoBilling } from "@spell/billing";
import { createDatabase } from "@spell/db";
import { createTestDatabase } from "@spell/db/testing";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createApp } from "./src/app.ts";
import { composeEngine } from "./src/compose.ts";
import { parseEnv } from "./src/env.ts";
import { BUILTIN_DEMOS, seedDemoSpells } from "./src/server.ts";

const testDb = await createTestDatabase({ url: process.env.DATABASE_URL });
const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), alg: "ES256", kid: "bench" };
const token = await new SignJWT({})
  .setProtectedHeader({ alg: "ES256", kid: "bench" })
  .setIssuer("https://b")
  .setAudience("spell")
  .setSubject("u1")
  .setExpirationTime("1h")
  .sign(privateKey);
const issuers: TrustedIssuerConfig[] = [{ issuer: "https://b", jwks: { keys: [jwk as never] } }];
const database = createDatabase({ url: testDb.url, poolSize: 10 });
const engine = composeEngine({
  env: parseEnv({
    NODE_ENV: "production",
    DATABASE_URL: testDb.url,
    SPELL_SIGNING_KEY: "k".repeat(32),
    SPELL_TRUSTED_ISSUERS: JSON.stringify(issuers),
  }),
  ports: database,
  issuers,
  billing: createNoBilling(),
  wasm: false,
});
await seedDemoSpells(engine, database, BUILTIN_DEMOS);
const app = createApp({ engine, ping: () => database.ping(), logger: { error: () => {} } });
const server = app.listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const port = (server.address() as { port: number }).port;
const body = JSON.stringify({ spell: "echo@v1", input: { hello: "world" } });
const { spawn } = await import("node:child_process");
const child = spawn(
  "node",
  [
    "node_modules/autocannon/autocannon.js",
    "-c",
    "20",
    "-d",
    "6",
    "-m",
    "POST",
    "-H",
    `authorization=Bearer ${token}`,
    "-H",
    "content-type=application/json",
    "-b",
    body,
    `http://127.0.0.1:${port}/api/spell/execute`,
  ],
  { stdio: "inherit" },
);
await new Promise((r) => child.once("exit", r));
server.close();
await database.close();
await testDb.drop();
process.exit(0);
