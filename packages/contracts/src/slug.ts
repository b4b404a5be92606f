import { z } from "zod";

/** `name@vN`: lowercase name, then a major version. The version is part of the identity. */
export const SLUG_PATTERN = /^[a-z0-9][a-z0-9._-]*@v[0-9]+$/;

export const ZSlug = z
  .string()
  .max(100)
  .regex(SLUG_PATTERN, "a slug is name@vN: lowercase [a-z0-9][a-z0-9._-]* then @v and a number")
  .meta({ description: "Spell slug, e.g. `resize@v1`", example: "echo@v1" });

export type Slug = z.infer<typeof ZSlug>;
