import autocannon from "autocannon";
import express from "express";
import { createApp } from "../src/app.ts";
import { createFakeEngine } from "../src/testutil/fake-engine.ts";

const mode = process.argv[2];

import { appRouter } from "../src/routers/index.ts";
import { createCallerFactory } from "../src/trpc.ts";

const factory = createCallerFactory(appRouter);
const engine = createFakeEngine();
const app =
  mode === "caller"
    ? (() => {
        const a = express();
        a.post("/api/spell/execute", express.json(), async (req, res) => {
          const c = factory({ engine, authorization: req.headers.authorization, idempotencyKey: undefined });
          res.json(await c.spell.execute(req.body));
        });
        return a;
      })()
    : mode === "bare"
      ? (() => {
          const a = express();
          a.post("/api/spell/execute", express.json(), (req, res) => {
            res.json({ ok: true, output: req.body.input });
          });
          return a;
        })()
      : createApp({ engine: createFakeEngine(), ping: async () => {}, logger: { error: () => {} } });
const server = app.listen(0, "127.0.0.1", async () => {
  const port = (server.address() as { port: number }).port;
  const path = mode === "trpc" ? "/trpc/spell.execute" : "/api/spell/execute";
  const run = (d: number) =>
    autocannon({
      url: `http://127.0.0.1:${port}${path}`,
      method: "POST",
      headers: { authorization: "Bearer alice", "content-type": "application/json" },
      body: JSON.stringify({ spell: "echo@v1", input: { hello: "world" } }),
      connections: 20,
      duration: d,
    });
  await run(2);
  const r = await run(4);
  console.log(mode, r.requests.average, r.latency.p50, r.latency.p99, r.non2xx);
  server.close();
  process.exit(0);
});
