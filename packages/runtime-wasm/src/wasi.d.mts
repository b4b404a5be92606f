export class ProcExit {
  constructor(code: number);
  readonly code: number;
}

export class OutputLimit {
  constructor(stream: "stdout" | "stderr", capBytes: number);
  readonly stream: "stdout" | "stderr";
  readonly capBytes: number;
}

export const SANDBOX_MEMORY_IMPORT: Readonly<{ module: string; name: string }>;

export interface WasiRunOptions {
  stdin: Uint8Array;
  stdoutCapBytes: number;
  stderrCapBytes: number;
  /** For a module that imports its memory: as fresh (declared initial size, all zeros). */
  memory?: object;
}

interface WasiRunCaptured {
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The guest memory's size when the run ended (0 if instantiation failed). */
  memoryBytes: number;
}

export type WasiRunOutcome = WasiRunCaptured &
  (
    | { kind: "exit"; code: number }
    | { kind: "output_limit"; stream: "stdout" | "stderr"; capBytes: number }
    | { kind: "trap"; message: string; stackOverflow: boolean; instantiation: boolean }
  );

/** Instantiates the module with a fresh preview1 environment and runs `_start` to completion. */
export function runWasiCommand(module: object, options: WasiRunOptions): WasiRunOutcome;
