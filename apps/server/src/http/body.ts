import type { IncomingMessage } from "node:http";

/** A body over the reader's limit; each transport answers it as its own 413. */
export class BodyTooLarge extends Error {
  constructor() {
    super("The request body is too large");
  }
}

/** The request stream failed or was aborted before its end. */
export class BodyUnreadable extends Error {
  constructor() {
    super("The request body could not be read");
  }
}

/**
 * The body as UTF-8 text, read as it arrives (the lean `/trpc` handler and the front door). Over
 * `limit` bytes it stops buffering, drains and drops the rest and rejects with `BodyTooLarge`; a
 * stream error or an abort rejects with `BodyUnreadable`.
 */
export function readBodyText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      req.resume();
      reject(new BodyTooLarge());
    };
    const onEnd = () => {
      cleanup();
      resolve(
        chunks.length === 1 ? (chunks[0] as Buffer).toString("utf8") : Buffer.concat(chunks).toString("utf8"),
      );
    };
    const onError = () => {
      cleanup();
      reject(new BodyUnreadable());
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onError);
  });
}
