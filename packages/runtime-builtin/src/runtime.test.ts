import { randomUUID } from "node:crypto";
import type { SpellRecord } from "@spell/engine";
import { spellRecord } from "@spell/engine/testing";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createBuiltinRuntime } from "./index.ts";

const runtime = createBuiltinRuntime();

function spellFor(builtin: string): SpellRecord {
  return spellRecord({
    slug: `${builtin}@v1`,
    artifact: { id: randomUUID(), builtin, apiEndpoint: null, wasmSha256: null, metadata: {} },
  });
}

async function png(width: number, height: number): Promise<string> {
  const image = await sharp({
    create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } },
  })
    .png()
    .toBuffer();
  return image.toString("base64");
}

const run = (builtin: string, input: Record<string, unknown>) =>
  runtime.run({ executionId: randomUUID(), spell: spellFor(builtin), input });

describe("builtin runtime", () => {
  it("echo returns its input", async () => {
    await expect(run("echo", { hello: "world", n: [1, 2] })).resolves.toEqual({
      output: { hello: "world", n: [1, 2] },
    });
  });

  it("resize shrinks a PNG inside the box, keeping the aspect ratio", async () => {
    const { output } = await run("resize", { image: await png(200, 100), width: 50, height: 50 });
    expect(output).toMatchObject({ format: "png", width: 50, height: 25 });
    const decoded = await sharp(Buffer.from((output as { image: string }).image, "base64")).metadata();
    expect([decoded.width, decoded.height, decoded.format]).toEqual([50, 25, "png"]);
  });

  it("resize converts to the requested format and fills exactly with fit=fill", async () => {
    const { output } = await run("resize", {
      image: await png(40, 40),
      width: 10,
      height: 30,
      fit: "fill",
      format: "webp",
    });
    expect(output).toMatchObject({ format: "webp", width: 10, height: 30 });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ width: 10 }, "missing image"],
    [{ image: "aGVsbG8gd29ybGQ=", width: 10 }, "not an image"],
    [{ image: "", width: 10 }, "empty image"],
    [{ image: "AAAA", width: 0 }, "zero width"],
    [{ image: "AAAA" }, "no dimensions"],
    [{ image: "AAAA", width: "5" }, "string width is not coerced"],
  ])("resize refuses bad input (%j: %s) with VALIDATION_ERROR", async (input) => {
    await expect(run("resize", input)).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
  });

  it("refuses a GIF even though sharp can read it", async () => {
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#000" } })
      .gif()
      .toBuffer();
    await expect(run("resize", { image: gif.toString("base64"), width: 2 })).rejects.toMatchObject({
      code: "VALIDATION_ERROR",
    });
  });

  it("answers RUNTIME_ERROR for an unknown builtin", async () => {
    await expect(run("nope", {})).rejects.toMatchObject({ code: "RUNTIME_ERROR" });
  });
});
