import type { Server } from "node:http";
import type { Socket } from "node:net";
import { AppError } from "@spell/contracts";

/** How long a client may take and how much of the server one client may hold. */
export interface HttpLimits {
  /** Time to send the request headers (slowloris); Node's default is 60 s. */
  headersTimeoutMs: number;
  /** Time to send the whole request, body included; Node's default is 300 s. */
  requestTimeoutMs: number;
  /** Idle time of a kept-alive connection between requests. */
  keepAliveTimeoutMs: number;
  /** Open connections per client address; more are answered 503 and closed. */
  maxConnectionsPerClient: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerClient: 256,
};

/**
 * Options for `createServer`: Node checks header and request timeouts only every
 * `connectionsCheckingInterval` (30 s by default), which would stretch a 10 s limit to 40 s.
 */
export const HTTP_SERVER_OPTIONS = { connectionsCheckingInterval: 1_000 } as const;

/** A whole HTTP/1.1 response with our JSON error body, written to a socket no request owns. */
function rawErrorResponse(error: AppError, reason: string): string {
  const body = JSON.stringify(error.toBody());
  return [
    `HTTP/1.1 ${error.status} ${reason}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
    "",
    body,
  ].join("\r\n");
}

/** What Node's HTTP parser refused, as one of our errors (its own answer is an empty body). */
function parserRefusal(code: string | undefined): [AppError, string] {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [
        new AppError("HEADERS_TOO_LARGE", "The request headers are too large", {}),
        "Request Header Fields Too Large",
      ];
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [new AppError("REQUEST_TIMEOUT", "The request did not arrive in time", {}), "Request Timeout"];
    default:
      return [
        new AppError("VALIDATION_ERROR", "The request is not valid HTTP", { reason: code ?? "bad_request" }),
        "Bad Request",
      ];
  }
}

/**
 * Bounds what one client can take from the server: slow headers and bodies time out, one address
 * holds a bounded number of connections, and every refusal of the HTTP parser itself is answered
 * with the unified JSON error body rather than Node's empty one.
 */
export function hardenHttpServer(server: Server, limits: HttpLimits = DEFAULT_HTTP_LIMITS): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;

  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    // A reset or a closed socket has nobody left to answer.
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const [appError, reason] = parserRefusal(error.code);
    socket.end(rawErrorResponse(appError, reason));
  });

  const perClient = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const open = (perClient.get(address) ?? 0) + 1;
    perClient.set(address, open);
    socket.once("close", () => {
      const left = (perClient.get(address) ?? 1) - 1;
      if (left === 0) perClient.delete(address);
      else perClient.set(address, left);
    });
    if (open > limits.maxConnectionsPerClient) {
      const refusal = new AppError("SERVICE_UNAVAILABLE", "Too many open connections from this client", {
        limit: limits.maxConnectionsPerClient,
      });
      socket.end(rawErrorResponse(refusal, "Service Unavailable"));
    }
  });
}
