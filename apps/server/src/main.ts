import { configureJsonBounds } from "@spell/contracts";
import { EnvError, parseEnv } from "./env.ts";
import { type RunningServer, startServer } from "./server.ts";

async function main(): Promise<void> {
  let server: RunningServer;
  try {
    const env = parseEnv();
    configureJsonBounds({ maxDepth: env.jsonMaxDepth });
    server = await startServer(env);
  } catch (error) {
    if (error instanceof EnvError) {
      console.error(error.message);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }

  console.log(`Spell API listening on ${server.url}`);
  console.log(`  REST ${server.url}/api   tRPC ${server.url}/trpc   OpenAPI ${server.url}/api/openapi.json`);
  if (server.devIssuer) {
    const token = await server.devIssuer.mintToken({ sub: "alice" });
    console.log("\nTry it (development issuer, trusted outside production only):");
    console.log(`  pnpm spell login --dev && pnpm spell exec echo@v1 --input '{"hello":"world"}'`);
    console.log(`  pnpm spell exec wordcount@v1 --input '{"text":"the cat and the hat"}'   # a wasm spell`);
    console.log(
      "  pnpm spell exec resize@v1 --input '{\"width\":64}' --file image=./photo.png --out image=./small.png",
    );
    console.log("  pnpm spell ls");
    console.log(
      `  curl -s ${server.url}/api/spell/execute -H 'Authorization: Bearer ${token}' ` +
        `-H 'Content-Type: application/json' -d '{"spell":"echo@v1","input":{"hello":"world"}}'`,
    );
  }
  if (server.billingMode === "local") {
    console.log(
      "\nBilling: LOCAL TEST payment provider (no real money, no real cards; never in production).",
    );
    console.log("  Priced demo (echo-paid@v1, USD 0.50):");
    console.log(
      `  pnpm spell billing test-card pm_card_visa && pnpm spell exec echo-paid@v1 --input '{"hi":1}'`,
    );
  } else if (server.billingMode === "stripe") {
    console.log(`\nBilling: Stripe (webhook at ${server.url}/api/billing/webhook)`);
  } else {
    console.log("\nBilling: not configured (priced spells answer BILLING_NOT_CONFIGURED)");
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: shutting down`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error("shutdown failed", error);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error("Spell API failed to start:", error);
  process.exit(1);
});
