import { readFile, writeFile } from "node:fs/promises";
import { type CliContext, CliError, EXIT } from "./context.ts";
import { resolveUserPath } from "./paths.ts";

export interface FieldPath {
  field: string;
  path: string;
}

/** Parses `field=./path` (the first `=` splits, so paths may contain `=`). */
export function parseFieldPath(flag: string, value: string): FieldPath {
  const at = value.indexOf("=");
  const field = at > 0 ? value.slice(0, at) : "";
  const path = at > 0 ? value.slice(at + 1) : "";
  if (field === "" || path === "") {
    throw new CliError(
      "USAGE",
      `${flag} expects field=path, e.g. ${flag} image=./photo.png (got "${value}")`,
    );
  }
  return { field, path };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function readUserFile(ctx: CliContext, path: string, what: string): Promise<Buffer> {
  const resolved = resolveUserPath(ctx, path);
  try {
    return await readFile(resolved);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new CliError("FILE_UNREADABLE", `cannot read ${what} ${resolved}: ${reason}`);
  }
}

async function readStdin(ctx: CliContext): Promise<string> {
  if (!ctx.readStdin) throw new CliError("USAGE", "--input @- reads standard input, but there is none");
  return ctx.readStdin();
}

/** `--input '{"a":1}'`, `--input @file.json` or `--input @-` (standard input): always a JSON object, since spell inputs are objects. */
export async function parseInput(ctx: CliContext, raw: string | undefined): Promise<Record<string, unknown>> {
  if (raw === undefined) return {};
  const fromStdin = raw === "@-";
  const fromFile = raw.startsWith("@") && !fromStdin;
  const text = fromStdin
    ? await readStdin(ctx)
    : fromFile
      ? (await readUserFile(ctx, raw.slice(1), "input file")).toString("utf8")
      : raw;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const where = fromStdin ? "standard input is" : fromFile ? `${raw.slice(1)} is` : "--input is";
    throw new CliError("USAGE", `${where} not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value))
    throw new CliError("USAGE", "--input must be a JSON object, e.g. '{\"width\":64}'");
  return value;
}

/** Reads each `--file field=path` and puts the file's base64 into `input[field]`. */
export async function attachFiles(
  ctx: CliContext,
  input: Record<string, unknown>,
  files: FieldPath[],
): Promise<Record<string, unknown>> {
  const result = { ...input };
  for (const { field, path } of files) {
    result[field] = (await readUserFile(ctx, path, `--file ${field}`)).toString("base64");
  }
  return result;
}

export interface WrittenFile {
  field: string;
  path: string;
  bytes: number;
}

/**
 * Decodes each `--out field=path` from the spell's output into its file and returns the output
 * without those fields, so the rest can be printed without megabytes of base64.
 */
export async function extractOutputs(
  ctx: CliContext,
  output: unknown,
  outs: FieldPath[],
): Promise<{ rest: unknown; written: WrittenFile[] }> {
  if (outs.length === 0) return { rest: output, written: [] };
  if (!isPlainObject(output)) {
    throw new CliError(
      "OUTPUT_FIELD_MISSING",
      "--out needs the spell's output to be a JSON object",
      EXIT.other,
    );
  }
  const rest = { ...output };
  const written: WrittenFile[] = [];
  for (const { field, path } of outs) {
    const value = output[field];
    if (typeof value !== "string") {
      const fields = Object.keys(output).join(", ") || "none";
      throw new CliError(
        "OUTPUT_FIELD_MISSING",
        `the output has no base64 string field "${field}" (fields: ${fields})`,
        EXIT.other,
      );
    }
    const data = Buffer.from(value, "base64");
    const resolved = resolveUserPath(ctx, path);
    try {
      await writeFile(resolved, data);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new CliError("FILE_UNWRITABLE", `cannot write ${resolved}: ${reason}`, EXIT.other);
    }
    delete rest[field];
    written.push({ field, path: resolved, bytes: data.length });
  }
  return { rest, written };
}
