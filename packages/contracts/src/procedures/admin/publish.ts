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
  config: ZJsonObject.optional().meta({
    description:
      "The runtime's settings for this artifact; a new spell starts with {}, a republish of the same runtime keeps the current config",
  }),
  priceAmount: z.number().int().min(0).max(100_000_000).optional().meta({
    description: "Minor units; a new spell is free, a republish keeps the current price unless given",
  }),
  currency: ZCurrency.optional().meta({ description: "A new spell is priced in usd; kept unless given" }),
  visibility: ZVisibility.optional().meta({
    description: "A new spell is public; a republish keeps the current visibility unless given",
  }),
  teamId: ZTeamId.optional().meta({ description: "The owning team (and the audience of `team` visibility)" }),
  ownerId: ZUserId.optional().meta({
    description: "Admins only, at creation: the spell's owner; defaults to the caller",
  }),
  artifact: ZArtifactInput,
  inputSchema: ZDeclaredSchema.meta({
    description:
      "JSON Schema 2020-12 the input must satisfy: checked at publish, enforced before any charge or run (wins over `metadata.inputSchema`); kept from the current version unless given",
    example: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  }),
  outputSchema: ZDeclaredSchema.meta({
    description:
      "JSON Schema 2020-12 the output must satisfy; an output breaking it is RUNTIME_ERROR `output_schema` and the money is released",
  }),
  metadata: ZJsonObject.optional().meta({
    description:
      "Free-form; `description` is shown in listings, `inputSchema` (legacy) is the input schema when the field above is absent. A republish keeps the current metadata unless given",
  }),
});
export type PublishInput = z.input<typeof ZPublishInput>;
/** The fields a publish or an update can change, as `changed` names them. */
export const SPELL_FIELDS = [
  "created",
  "artifact",
  "runtime",
  "config",
  "visibility",
  "teamId",
  "price",
  "metadata",
  "inputSchema",
  "outputSchema",
  "disabled",
] as const;
export const ZSpellField = z.enum(SPELL_FIELDS);
export type SpellField = z.infer<typeof ZSpellField>;

/** A spell as its author manages it. */
export const ZPublishedSpell = z.object({
  id: z.string(),
  slug: ZSlug,
  runtime: ZRuntime,
  visibility: ZVisibility,
  teamId: z.string().nullable(),
  ownerId: z.string(),
  price: ZPrice,
  artifactId: z.string(),
  wasmSha256: z.string().nullable(),
  disabled: z.boolean(),
});
export type PublishedSpell = z.infer<typeof ZPublishedSpell>;

export const ZPublishOutput = z.object({
  ok: z.literal(true),
  /** True when this publish created the spell. */
  created: z.boolean(),
  /** What this publish changed (`created` for a new spell); fields not given are kept. */
  changed: z.array(ZSpellField),
  spell: ZPublishedSpell,
  /** For api spells: the secret the upstream uses to verify `Spell-Signature`. */
  signingSecret: z.string().nullable(),
});
export type PublishOutput = z.infer<typeof ZPublishOutput>;

export const publishContract = defineProcedure({
  route: adminRoute(
    "/admin/spells",
    "Publish any spell (admins): create it or replace its artifact; the next request runs the new one",
  ),
  input: ZPublishInput,
  output: ZPublishOutput,
  errors: ["USER_BANNED", "ARTIFACT_INVALID", "PRICE_BELOW_MINIMUM"],
});
export const publishRoute = publishContract.route;
