#!/usr/bin/env node
// The CLI runs from its TypeScript source on a fresh clone, with no build step: tsx compiles on import.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
