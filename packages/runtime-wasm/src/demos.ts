/** A wasm spell shipped with the wasm runtime, for the app's quick-start seeding and the docs. */
export interface WasmDemo {
  slug: string;
  /** The committed, unprepared binary; publish it through `prepareWasmArtifact`. */
  file: URL;
  description: string;
  inputSchema: Record<string, unknown>;
}

const bin = (name: string) => new URL(`../wasm/bin/${name}.wasm`, import.meta.url);

const echoSchema = {
  type: "object",
  description: "Any JSON object; it is returned under `echo`.",
  additionalProperties: true,
};

export const WASM_DEMOS: readonly WasmDemo[] = Object.freeze([
  {
    slug: "wordcount@v1",
    file: bin("wordcount"),
    description:
      "Counts words, lines and characters of a text and lists its 10 most frequent words (C, WASI).",
    inputSchema: {
      type: "object",
      properties: { text: { type: "string", description: "The text to count." } },
      required: ["text"],
      additionalProperties: false,
    },
  },
  {
    slug: "echo-c@v1",
    file: bin("echo-c"),
    description: "Returns its input as {echo: input}: the wasm ABI example in C.",
    inputSchema: echoSchema,
  },
  {
    slug: "echo-rust@v1",
    file: bin("echo-rust"),
    description: "Returns its input as {echo: input}: the wasm ABI example in Rust.",
    inputSchema: echoSchema,
  },
  {
    slug: "echo-as@v1",
    file: bin("echo-as"),
    description: "Returns its input as {echo: input}: the wasm ABI example in AssemblyScript.",
    inputSchema: echoSchema,
  },
]);
