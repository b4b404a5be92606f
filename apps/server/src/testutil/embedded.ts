import { type Harness, type HarnessOptions, startHarness } from "./harness.ts";

/**
 * The harness on the embedded PGlite whatever server the other test files use: DATABASE_URL is
 * unset while it starts (the embedded database has no job engine: no run or webhook worker).
 */
export async function startEmbeddedHarness(options: HarnessOptions = {}): Promise<Harness> {
  const url = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    return await startHarness(options);
  } finally {
    if (url !== undefined) process.env.DATABASE_URL = url;
  }
}
