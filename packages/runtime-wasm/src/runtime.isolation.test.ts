import { AppError } from "@spell/contracts";
import type { SpellRecord } from "@spell/engine";
import { afterAll, describe, expect, it } from "vitest";
import { committedBinary } from "../wasm/build.ts";
import { createWasmRuntime, prepareWasmArtifact } from "./index.ts";

/**
 * A sandbox process reuses what it can between calls (the compiled module, a zeroed memory): these
 * calls all run in one process, one after another, and each must find nothing of the calls before
 * it. `leak-probe` reports a marker in its linear memory, a mutable global and a grown memory left
 * by an earlier call, then leaves all three behind.
 */

const MIB = 1024 * 1024;
const limits = { memoryCapBytes: 16 * MIB };
const CLEAN = { memory: false, global: false, grown: false };

/** The probe with a custom section appended: another sha256, the same memory declaration. */
function probeVariant(): Uint8Array {
  const name = Buffer.from("spell-test-variant");
  const payload = Buffer.from("another module, the same memory type");
  const content = Buffer.concat([Buffer.from([name.length]), name, payload]);
  return Buffer.concat([committedBinary("leak-probe"), Buffer.from([0, content.length]), content]);
}

const binaries = new Map<string, Uint8Array>();
function spell(id: string, bytes: Uint8Array): SpellRecord {
  const { binary, sha256 } = prepareWasmArtifact(bytes, limits);
  binaries.set(id, binary);
  return {
    id: `spl_${id}`,
    slug: `${id}@v1`,
    runtime: "wasm",
    config: { timeoutMs: 2000 },
    price: { amount: 0, currency: "usd" },
    visibility: "public",
    teamId: null,
    createdBy: "user_1",
    artifact: { id, builtin: null, apiEndpoint: null, wasmSha256: sha256, metadata: {} },
  };
}

const probe = spell("leak-probe", committedBinary("leak-probe"));
const variant = spell("leak-probe-variant", probeVariant());
// One process, no reserve: every call below runs in the same sandbox process.
const runtime = createWasmRuntime({
  loadBinary: async (id) => binaries.get(id) as Uint8Array,
  poolSize: 1,
  reservedWorkers: 0,
  limits,
});
afterAll(() => runtime.close());

const call = (record: SpellRecord, mode: string) =>
  runtime.run({ executionId: `exe_${mode}`, spell: record, input: { mode } });

describe("a second call never sees the first call's memory", () => {
  it("the probe's marker, global and grown page are gone on the next call, call after call", async () => {
    expect(variant.artifact.wasmSha256).not.toBe(probe.artifact.wasmSha256);
    for (let i = 0; i < 5; i++) {
      await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
    }
  });

  it("a call that grew its memory leaves no bigger memory and no marker behind", async () => {
    await expect(call(probe, "grow")).resolves.toEqual({ output: CLEAN });
    await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
    await expect(call(probe, "grow")).resolves.toEqual({ output: CLEAN });
    await expect(call(variant, "plain")).resolves.toEqual({ output: CLEAN });
  });

  it("a call that trapped after writing leaves nothing for the next one", async () => {
    for (let i = 0; i < 3; i++) {
      const failure = await call(probe, "trap").catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(AppError);
      expect(failure).toMatchObject({ code: "RUNTIME_ERROR", details: { trap: "unreachable" } });
      await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
    }
  });

  it("another module with the same memory declaration starts clean after the probe, and the probe after it", async () => {
    await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
    await expect(call(variant, "plain")).resolves.toEqual({ output: CLEAN });
    await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
    await expect(call(variant, "trap")).rejects.toMatchObject({ code: "RUNTIME_ERROR" });
    await expect(call(probe, "plain")).resolves.toEqual({ output: CLEAN });
  });

  it("echo-c (C, a 1 MiB static buffer) never returns bytes of a longer earlier input", async () => {
    const echo = spell("echo-c", committedBinary("echo-c"));
    const long = { text: "x".repeat(10_000) };
    await expect(runtime.run({ executionId: "l", spell: echo, input: long })).resolves.toEqual({
      output: { echo: long },
    });
    await expect(runtime.run({ executionId: "s", spell: echo, input: { a: 1 } })).resolves.toEqual({
      output: { echo: { a: 1 } },
    });
  });
});
