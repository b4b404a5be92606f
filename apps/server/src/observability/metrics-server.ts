import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { notFoundHandler } from "../http/guards.ts";
import { type Metrics, metricsHandler } from "./metrics.ts";

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `/metrics` on a port of its own, for a network only the scraper reaches: the API port then does
 * not serve it at all.
 */
export async function startMetricsServer(
  metrics: Metrics,
  settings: { host: string; token: string | undefined },
  port: number,
): Promise<MetricsServer> {
  const app = express();
  app.disable("x-powered-by");
  app.get("/metrics", metricsHandler(metrics, settings.token));
  app.use(notFoundHandler);
  const server = createServer(app);
  server.listen(port, settings.host);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
