import { AppError } from "@spell/contracts";
import sharp from "sharp";
import { z } from "zod";
import { defineBuiltin } from "./registry.ts";

const MAX_DIMENSION = 8192;
/** Decompression-bomb guard: refuse images above 40 megapixels before decoding them. */
const MAX_INPUT_PIXELS = 40_000_000;

const ZResizeInput = z
  .object({
    image: z.base64().min(1).meta({ description: "PNG, JPEG or WebP, base64" }),
    width: z.number().int().min(1).max(MAX_DIMENSION).optional(),
    height: z.number().int().min(1).max(MAX_DIMENSION).optional(),
    fit: z.enum(["cover", "contain", "fill", "inside", "outside"]).default("inside"),
    format: z.enum(["png", "jpeg", "webp"]).optional(),
  })
  .refine((input) => input.width !== undefined || input.height !== undefined, {
    message: "give width, height or both",
    path: ["width"],
  });

const ACCEPTED_FORMATS = new Set(["png", "jpeg", "webp"]);

export const resizeBuiltin = defineBuiltin({
  name: "resize",
  description: "Resizes a PNG, JPEG or WebP image (base64) to the given width and/or height.",
  inputSchema: ZResizeInput,
  async run(input) {
    const source = Buffer.from(input.image, "base64");
    const pipeline = sharp(source, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
    let sourceFormat: string | undefined;
    try {
      sourceFormat = (await pipeline.metadata()).format;
    } catch {
      throw new AppError("VALIDATION_ERROR", "image is not a readable PNG, JPEG or WebP", {
        issues: [{ path: ["image"], message: "unreadable image", code: "invalid_image" }],
      });
    }
    if (!sourceFormat || !ACCEPTED_FORMATS.has(sourceFormat)) {
      throw new AppError("VALIDATION_ERROR", `image format ${sourceFormat ?? "unknown"} is not accepted`, {
        issues: [{ path: ["image"], message: "PNG, JPEG or WebP expected", code: "invalid_image" }],
      });
    }
    const format = input.format ?? (sourceFormat as "png" | "jpeg" | "webp");
    const { data, info } = await pipeline
      .rotate()
      .resize({ width: input.width, height: input.height, fit: input.fit })
      .toFormat(format)
      .toBuffer({ resolveWithObject: true });
    return {
      image: data.toString("base64"),
      format,
      width: info.width,
      height: info.height,
      bytes: info.size,
    };
  },
});
