import { deflateSync } from "node:zlib";
import { AppError } from "@spell/contracts";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { parseBuiltinInput } from "./registry.ts";
import { createResizeBuiltin, outputSize, resizeBuiltin } from "./resize.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG whose header declares `width`×`height` (8-bit gray) followed by a few bytes of pixels. */
function declaredPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(width + 1))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function noise(width: number, height: number, format: "png" | "jpeg"): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

async function resize(input: Record<string, unknown>, builtin = resizeBuiltin): Promise<unknown> {
  return builtin.run(parseBuiltinInput(builtin, input as never));
}

async function refusal(input: Record<string, unknown>): Promise<AppError> {
  try {
    await resize(input);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected resize to refuse");
}

const b64 = (bytes: Buffer) => bytes.toString("base64");

describe("resize refuses bombs and unbounded output with 400", () => {
  it.each([
    ["a PNG header declaring 50,000×50,000", () => declaredPng(50_000, 50_000)],
    ["a PNG header declaring 7,000×7,000 (49 MP)", () => declaredPng(7_000, 7_000)],
  ])("%s: too_many_pixels before decoding", async (_name, make) => {
    const error = await refusal({ image: b64(make()), width: 10 });
    expect(error.code).toBe("VALIDATION_ERROR");
    expect(error.details).toMatchObject({ reason: "too_many_pixels", maxInputPixels: 40_000_000 });
  });

  it("a PNG whose header parses but whose pixel data is missing", async () => {
    const error = await refusal({ image: b64(declaredPng(3_000, 3_000)), width: 10 });
    expect(error.code).toBe("VALIDATION_ERROR");
    expect(error.details.reason).toBe("undecodable_image");
  });

  it.each(["png", "jpeg"] as const)("a truncated %s", async (format) => {
    const whole = await noise(300, 300, format);
    const error = await refusal({ image: b64(whole.subarray(0, Math.floor(whole.length / 2))), width: 10 });
    expect(error.code).toBe("VALIDATION_ERROR");
    expect(["undecodable_image", "invalid_image"]).toContain(error.details.reason);
  });

  it.each([
    [{ width: 8192, height: 8192, fit: "outside" }, "outside growth past the side cap"],
    [{ width: 8192, fit: "inside" }, "one side given, the other derived past the cap"],
    [{ width: 7000, height: 7000, fit: "cover" }, "an exact box over the pixel cap"],
  ])("%j: %s → output_too_large", async (box, _why) => {
    // 1×400: any box covered by it scales the long side 400x further than the short one.
    const thin = await sharp({ create: { width: 1, height: 400, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    const error = await refusal({ image: b64(thin), ...box });
    expect(error.code).toBe("VALIDATION_ERROR");
    expect(error.details.reason).toBe("output_too_large");
  });

  it("still grows with fit=outside inside the caps", async () => {
    const image = await sharp({ create: { width: 10, height: 20, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    await expect(
      resize({ image: b64(image), width: 100, height: 100, fit: "outside" }),
    ).resolves.toMatchObject({
      width: 100,
      height: 200,
    });
  });

  it.each<
    [
      { width?: number; height?: number; fit: "cover" | "inside" | "outside" | "fill" | "contain" },
      [number, number],
    ]
  >([
    [{ width: 50, height: 50, fit: "inside" }, [50, 25]],
    [{ width: 50, height: 50, fit: "outside" }, [100, 50]],
    [{ width: 50, height: 50, fit: "cover" }, [50, 50]],
    [{ width: 50, fit: "outside" }, [50, 25]],
    [{ height: 50, fit: "inside" }, [100, 50]],
  ])("computes the output size like sharp (%j)", async (box, [width, height]) => {
    expect(outputSize({ width: 200, height: 100 }, box)).toEqual({ width, height });
    const image = await sharp({ create: { width: 200, height: 100, channels: 3, background: "#fff" } })
      .png()
      .toBuffer();
    await expect(resize({ image: b64(image), ...box })).resolves.toMatchObject({ width, height });
  });
});

describe("resize runs with bounded concurrency", () => {
  it("N+1 concurrent resizes: at most N in flight, all answered", async () => {
    const builtin = createResizeBuiltin({ maxConcurrent: 2, maxWaiting: 10 });
    const image = b64(await noise(600, 600, "png"));
    let maxSeen = 0;
    const watch = setInterval(() => {
      maxSeen = Math.max(maxSeen, builtin.gate.running);
    }, 1);
    try {
      const results = await Promise.all(
        Array.from({ length: 3 }, () => resize({ image, width: 300, format: "webp" }, builtin)),
      );
      expect(results).toHaveLength(3);
    } finally {
      clearInterval(watch);
    }
    expect(builtin.gate.peak).toBe(2);
    expect(maxSeen).toBeLessThanOrEqual(2);
    expect(builtin.gate.running).toBe(0);
  });

  it("refuses with SERVICE_UNAVAILABLE when the waiting room is full", async () => {
    const builtin = createResizeBuiltin({ maxConcurrent: 1, maxWaiting: 1 });
    const image = b64(await noise(400, 400, "png"));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 3 }, () => resize({ image, width: 100 }, builtin)),
    );
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    const third = outcomes[2] as PromiseRejectedResult;
    expect(third.reason).toMatchObject({ code: "SERVICE_UNAVAILABLE" });
  });
});
