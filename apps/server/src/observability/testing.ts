import { Writable } from "node:stream";
import { createLogger, type PinoLogger } from "./logger.ts";

/** A logger writing into memory, and the lines it wrote, parsed. */
export function capturedLogger(level: "info" | "debug" = "info"): {
  log: PinoLogger;
  lines(): Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    log: createLogger({ level, destination }),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
