import { randomUUID } from "node:crypto";
import { AppError } from "@spell/contracts";
import { spellRecord } from "@spell/engine/testing";
import { describe, expect, it } from "vitest";
import { createBuiltinRuntime } from "./index.ts";

describe("builtin runtime: a canceled invocation", () => {
  it("does not run once its signal has aborted", async () => {
    const runtime = createBuiltinRuntime();
    const spell = spellRecord({
      slug: "echo@v1",
      artifact: { id: randomUUID(), builtin: "echo", apiEndpoint: null, wasmSha256: null, metadata: {} },
    });
    const error = await runtime
      .run({ executionId: randomUUID(), spell, input: { a: 1 }, signal: AbortSignal.abort() })
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("EXECUTION_CANCELED");
    // A signal that never aborts changes nothing.
    await expect(
      runtime.run({
        executionId: randomUUID(),
        spell,
        input: { a: 1 },
        signal: new AbortController().signal,
      }),
    ).resolves.toEqual({ output: { a: 1 } });
  });
});
