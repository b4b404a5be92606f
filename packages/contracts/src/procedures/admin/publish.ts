import { z } from "zod";
import {
  defineProcedure,
  ZCurrency,
  ZJsonObject,
  ZPrice,
  ZRuntime,
  ZTeamId,
  ZUserId,
  ZVisibility,
} from "../../common.ts";
import { ZSlug } from "../../slug.ts";
import { adminRoute } from "./route.ts";

export const ZArtifactInput = z.union([
  z.object({ builtin: z.string().min(1).max(100) }).strict(),
  z.object({ apiEndpoint: z.url({ protocol: /^https?$/ }) }).strict(),
  z
    .object({ wasmBase64: z.base64().min(8) })
    .strict()
    .meta({ description: "A WASI preview1 command module, base64" }),
]);
export type ArtifactInput = z.infer<typeof ZArtifactInput>;

/**
 * A declared JSON Schema: any JSON here, so that publish itself (not the body parser) refuses an
 * invalid one with `ARTIFACT_INVALID` and says where.
 */
const ZDeclaredSchema = z.unknown().optional();

export const ZPublishInput = z.object({
  slug: ZSlug,
  runtime: ZRuntime,
  config: ZJsonObject.default({}),
  priceAmount: z.number().int().min(0).max(100_000_000).default(0),
  currency: ZCurrency.default("usd"),
  visibility: ZVisibility.default("public"),
  teamId: ZTeamId.optional(),
  ownerId: ZUserId.optional().meta({ description: "The spell's creator; defaults to the caller" }),
  artifact: ZArtifactInput,
  inputSchema: ZDeclaredSchema.meta({
    description:
      "JSON Schema 2020-12 the input must satisfy: checked at publish, enforced before any charge or run (wins over `metadata.inputSchema`)",
    example: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  }),
  outputSchema: ZDeclaredSchema.meta({
    description:
      "JSON Schema 2020-12 the output must satisfy; an output breaking it is RUNTIME_ERROR `output_schema` and the money is released",
  }),
  metadata: ZJsonObject.default({}).meta({
    description:
      "Free-form; `description` is shown in listings, `inputSchema` (legacy) is the input schema when the field above is absent",
  }),
});
export type PublishInput = z.input<typeof ZPublishInput>;
export const ZPublishOutput = z.object({
  ok: z.literal(true),
  spell: z.object({
    id: z.string(),
    slug: ZSlug,
    runtime: ZRuntime,
    visibility: ZVisibility,
    teamId: z.string().nullable(),
    ownerId: z.string(),
    price: ZPrice,
    artifactId: z.string(),
    wasmSha256: z.string().nullable(),
  }),
  /** For api spells: the secret the upstream uses to verify `Spell-Signature`. */
  signingSecret: z.string().nullable(),
});
export type PublishOutput = z.infer<typeof ZPublishOutput>;

export const publishContract = defineProcedure({
  route: adminRoute(
    "/admin/spells",
    "Publish a spell: create it or replace its artifact; the next request runs the new one",
  ),
  input: ZPublishInput,
  output: ZPublishOutput,
  errors: ["USER_BANNED", "ARTIFACT_INVALID", "PRICE_BELOW_MINIMUM"],
});
export const publishRoute = publishContract.route;
