import { availableParallelism } from "node:os";
import { AppError } from "@spell/contracts";
import sharp, { type Metadata, type OutputInfo } from "sharp";
import { z } from "zod";
import { Gate, type GateOptions } from "./gate.ts";
import { type Builtin, defineBuiltin } from "./registry.ts";

const MAX_DIMENSION = 8192;
/** Decompression-bomb guard: refuse images above 40 megapixels before decoding them. */
const MAX_INPUT_PIXELS = 40_000_000;
/** The most pixels a result may have, whatever `fit` computes from the requested box. */
const MAX_OUTPUT_PIXELS = 40_000_000;
/** A resize that runs longer than this is stopped by libvips (`RUNTIME_TIMEOUT`). */
const RESIZE_TIMEOUT_SECONDS = 10;

const FITS = ["cover", "contain", "fill", "inside", "outside"] as const;
type Fit = (typeof FITS)[number];

const ZResizeInput = z
  .object({
    image: z.base64().min(1).meta({ description: "PNG, JPEG or WebP, base64" }),
    width: z.number().int().min(1).max(MAX_DIMENSION).optional(),
    height: z.number().int().min(1).max(MAX_DIMENSION).optional(),
    fit: z.enum(FITS).default("inside"),
    format: z.enum(["png", "jpeg", "webp"]).optional(),
  })
  .refine((input) => input.width !== undefined || input.height !== undefined, {
    message: "give width, height or both",
    path: ["width"],
  });

const ACCEPTED_FORMATS = new Set(["png", "jpeg", "webp"]);

/** A 400 about the image: the caller sent something we will not (or cannot) decode. */
function imageRefused(message: string, path: string, reason: string, details: Record<string, unknown> = {}) {
  return new AppError("VALIDATION_ERROR", message, {
    reason,
    ...details,
    issues: [{ path: [path], message, code: reason }],
  });
}

/**
 * The size sharp will produce for a source of `width`×`height` (already EXIF-rotated), following its
 * `resize` rules: one side given keeps the aspect ratio; cover/contain/fill give exactly the box;
 * inside fits in it, outside covers it (and so can grow far past the box on a thin image).
 */
export function outputSize(
  source: { width: number; height: number },
  box: { width?: number | undefined; height?: number | undefined; fit: Fit },
): { width: number; height: number } {
  const { width: w, height: h } = source;
  if (box.width !== undefined && box.height !== undefined) {
    if (box.fit === "cover" || box.fit === "contain" || box.fit === "fill") {
      return { width: box.width, height: box.height };
    }
    const scale =
      box.fit === "inside"
        ? Math.min(box.width / w, box.height / h)
        : Math.max(box.width / w, box.height / h);
    return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
  }
  if (box.width !== undefined)
    return { width: box.width, height: Math.max(1, Math.round((h * box.width) / w)) };
  const height = box.height as number;
  return { width: Math.max(1, Math.round((w * height) / h)), height };
}

function tooManyPixels(width?: number, height?: number): AppError {
  const size = width && height ? `${width}×${height} (${width * height} pixels)` : "over the pixel limit";
  return imageRefused(
    `image is ${size}; at most ${MAX_INPUT_PIXELS} pixels are accepted`,
    "image",
    "too_many_pixels",
    { maxInputPixels: MAX_INPUT_PIXELS, ...(width && height ? { width, height } : {}) },
  );
}

/** sharp's refusals of the pixels themselves (truncated, corrupt, over the pixel limit). */
function decodeFailure(error: unknown): AppError {
  const text = error instanceof Error ? error.message : String(error);
  if (/timeout/i.test(text)) {
    return new AppError("RUNTIME_TIMEOUT", `resize ran longer than ${RESIZE_TIMEOUT_SECONDS} s`, {
      timeoutMs: RESIZE_TIMEOUT_SECONDS * 1000,
    });
  }
  const firstLine = (text.split("\n")[0] ?? "").slice(0, 200);
  return imageRefused(`image could not be decoded: ${firstLine}`, "image", "undecodable_image");
}

export interface ResizeOptions extends Partial<GateOptions> {}

/**
 * Resizes run on the libuv thread pool (4 threads by default), which DNS lookups and file reads
 * share; at most half of it (and at most the cores) is given to resizing.
 */
export const DEFAULT_RESIZE_CONCURRENCY = Math.max(1, Math.min(2, availableParallelism()));

/** The `resize` builtin with its own concurrency gate (tests make small ones to watch it). */
export function createResizeBuiltin(options: ResizeOptions = {}): Builtin & { gate: Gate } {
  const gate = new Gate({
    maxConcurrent: options.maxConcurrent ?? DEFAULT_RESIZE_CONCURRENCY,
    maxWaiting: options.maxWaiting ?? 64,
  });
  const builtin = defineBuiltin({
    name: "resize",
    description: "Resizes a PNG, JPEG or WebP image (base64) to the given width and/or height.",
    inputSchema: ZResizeInput,
    run: (input) => gate.run(() => resize(input)),
  });
  return Object.assign(builtin, { gate });
}

async function resize(input: z.output<typeof ZResizeInput>) {
  const source = Buffer.from(input.image, "base64");
  const pipeline = sharp(source, {
    limitInputPixels: MAX_INPUT_PIXELS,
    failOn: "error",
    sequentialRead: true,
  }).timeout({ seconds: RESIZE_TIMEOUT_SECONDS });
  let metadata: Metadata;
  try {
    metadata = await pipeline.metadata();
  } catch (error) {
    // sharp's own bomb check (limitInputPixels) already applies to the header read.
    if (error instanceof Error && /pixel limit/i.test(error.message)) throw tooManyPixels();
    throw imageRefused("image is not a readable PNG, JPEG or WebP", "image", "invalid_image");
  }
  const sourceFormat = metadata.format;
  if (!sourceFormat || !ACCEPTED_FORMATS.has(sourceFormat)) {
    throw imageRefused(`image format ${sourceFormat ?? "unknown"} is not accepted`, "image", "invalid_image");
  }
  const { width, height } = metadata;
  if (!width || !height) throw imageRefused("image has no dimensions", "image", "invalid_image");
  // metadata() reads only the header: the bomb check is ours, before a single pixel is decoded.
  if (width * height > MAX_INPUT_PIXELS) throw tooManyPixels(width, height);
  // EXIF orientations 5–8 swap the sides once `rotate()` applies them.
  const rotated = (metadata.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height };
  const target = outputSize(rotated, input);
  if (
    target.width > MAX_DIMENSION ||
    target.height > MAX_DIMENSION ||
    target.width * target.height > MAX_OUTPUT_PIXELS
  ) {
    throw imageRefused(
      `the result would be ${target.width}×${target.height}; each side is at most ${MAX_DIMENSION} and the area at most ${MAX_OUTPUT_PIXELS} pixels`,
      input.fit === "outside" ? "fit" : "width",
      "output_too_large",
      { outputWidth: target.width, outputHeight: target.height, maxDimension: MAX_DIMENSION },
    );
  }
  const format = input.format ?? (sourceFormat as "png" | "jpeg" | "webp");
  let result: { data: Buffer; info: OutputInfo };
  try {
    result = await pipeline
      .rotate()
      .resize({ width: input.width, height: input.height, fit: input.fit })
      .toFormat(format)
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw decodeFailure(error);
  }
  const { data, info } = result;
  return { image: data.toString("base64"), format, width: info.width, height: info.height, bytes: info.size };
}

// libvips threads per image: with the gate, N resizes use at most N cores however large the images.
sharp.concurrency(1);

export const resizeBuiltin = createResizeBuiltin();
