import { AppError } from "@spell/contracts";
import type { AuthorOperations, Engine } from "@spell/engine";

/** The engine's author operations; every engine `createEngine` makes has them. */
export function authorsOf(engine: Engine): AuthorOperations {
  if (!engine.authors) throw new AppError("INTERNAL_ERROR", "This engine has no author operations");
  return engine.authors;
}
