import type { z } from "zod";
import { defineProcedure } from "../../common.ts";
import { ZPublishInput, ZPublishOutput } from "../admin/publish.ts";
import { authorRoute } from "./route.ts";

/** The author's publish: the admin body without `ownerId` (the caller owns what they create). */
export const ZAuthorPublishInput = ZPublishInput.omit({ ownerId: true });
export type AuthorPublishInput = z.input<typeof ZAuthorPublishInput>;

export const authorPublishContract = defineProcedure({
  route: authorRoute(
    "POST",
    "/spells/publish",
    "Publish a spell you own (needs spell:publish): create it, or replace its artifact keeping every field not given",
  ),
  input: ZAuthorPublishInput,
  output: ZPublishOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "ARTIFACT_INVALID", "PRICE_BELOW_MINIMUM"],
});
export const authorPublishRoute = authorPublishContract.route;
