import { z } from "zod";
import { defineBuiltin } from "./registry.ts";

export const echoBuiltin = defineBuiltin({
  name: "echo",
  description: "Returns its input unchanged.",
  inputSchema: z.record(z.string(), z.unknown()),
  run: (input) => input,
});
