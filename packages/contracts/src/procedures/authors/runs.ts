import { z } from "zod";
import { defineProcedure, ZPrice, ZRuntime } from "../../common.ts";
import { ZErrorCode } from "../../errors.ts";
import { ZSlug } from "../../slug.ts";
import { ZExecutionStatus } from "../me.ts";
import { authorRoute } from "./route.ts";

export const ZAuthorRun = z.object({
  executionId: z.string(),
  slug: ZSlug,
  runtime: ZRuntime,
  artifactId: z.string().nullable(),
  status: ZExecutionStatus,
  errorCode: ZErrorCode.nullable(),
  durationMs: z.number().int().nullable(),
  /** The caller's id, only when they share it with authors (`POST /api/me/share-identity`); admins see it. */
  callerId: z.string().nullable(),
  /** The price quoted when the run started. */
  price: ZPrice,
  /** Whether that price was captured (the author's revenue). */
  charged: z.boolean(),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});
export type AuthorRun = z.infer<typeof ZAuthorRun>;

export const ZAuthorRunsInput = z.object({
  slug: ZSlug.optional().meta({ description: "One spell; default: every spell you manage" }),
  status: ZExecutionStatus.optional(),
  from: z.iso.datetime().optional().meta({ description: "Runs created at or after (ISO 8601)" }),
  to: z.iso.datetime().optional().meta({ description: "Runs created before (ISO 8601)" }),
  cursor: z.string().min(1).max(200).optional().meta({ description: "`nextCursor` of the previous page" }),
  limit: z.coerce.number().int().min(1).max(200).optional().meta({ description: "default 50" }),
});
export type AuthorRunsInput = z.input<typeof ZAuthorRunsInput>;
export const ZAuthorRunsOutput = z.object({
  ok: z.literal(true),
  runs: z.array(ZAuthorRun),
  /** Pass as `cursor` for the next (older) page; null on the last one. */
  nextCursor: z.string().nullable(),
});
export type AuthorRunsOutput = z.infer<typeof ZAuthorRunsOutput>;

export const authorRunsContract = defineProcedure({
  route: authorRoute("GET", "/spells/runs", "The runs of the spells you own, newest first, paged"),
  input: ZAuthorRunsInput.optional(),
  output: ZAuthorRunsOutput,
  errors: ["USER_BANNED", "FORBIDDEN", "SPELL_NOT_FOUND"],
});
export const authorRunsRoute = authorRunsContract.route;
