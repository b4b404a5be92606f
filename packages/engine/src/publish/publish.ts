import {
  AppError,
  type ArtifactInput,
  findJsonBoundsViolation,
  type JsonObject,
  type PublishOutput,
  type RuntimeKind,
} from "@spell/contracts";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Engine, Session } from "../engine-types.ts";
import type { RuntimeArtifact } from "../ports.ts";

type PublishInput = Parameters<Engine["publish"]>[1];

/** The artifact field each runtime kind is published with (see ZArtifactInput). */
const ARTIFACT_FIELD = {
  builtin: "builtin",
  api: "apiEndpoint",
  wasm: "wasmBase64",
} as const satisfies Record<RuntimeKind, string>;

/** Creates a spell or replaces its artifact; the next execute, in every process, runs the new one. */
export async function publish(
  context: EngineContext,
  session: Session,
  input: PublishInput,
): Promise<PublishOutput> {
  admit(session, "admin");
  if (input.visibility === "team" && !input.teamId) {
    throw new AppError("VALIDATION_ERROR", "A team spell needs a teamId", {
      issues: [{ path: ["teamId"], message: "required when visibility is team", code: "custom" }],
    });
  }
  const price = { amount: input.priceAmount, currency: input.currency };
  if (price.amount > 0) context.billing.assertChargeable(price);
  const metadata = withDeclaredSchemas(context, input);
  const prepared = await prepareArtifact(context, input.runtime, input.artifact, input.config);
  const spell = await context.spells.publish({
    slug: input.slug,
    runtime: input.runtime,
    config: input.config,
    price,
    visibility: input.visibility,
    teamId: input.teamId ?? null,
    createdBy: input.ownerId ?? session.caller.userId,
    artifact: { ...prepared, metadata },
  });
  return {
    ok: true,
    spell: {
      id: spell.id,
      slug: spell.slug,
      runtime: spell.runtime,
      visibility: spell.visibility,
      teamId: spell.teamId,
      ownerId: spell.createdBy,
      price: spell.price,
      artifactId: spell.artifact.id,
      wasmSha256: spell.artifact.wasmSha256,
    },
    signingSecret: context.runtimes.get(spell.runtime)?.signingSecret?.(spell) ?? null,
  };
}

/** The runtime of the spell's kind validates its artifact; a kind this server does not run is refused. */
function prepareArtifact(
  context: EngineContext,
  runtime: RuntimeKind,
  artifact: ArtifactInput,
  config: PublishInput["config"],
): Promise<RuntimeArtifact> | RuntimeArtifact {
  if (!(ARTIFACT_FIELD[runtime] in artifact)) {
    throw new AppError("ARTIFACT_INVALID", `A ${runtime} spell needs a ${runtime} artifact`, {
      runtime,
      artifact: Object.keys(artifact),
    });
  }
  const adapter = context.runtimes.get(runtime);
  if (!adapter) {
    throw new AppError("ARTIFACT_INVALID", `The ${runtime} runtime is not enabled on this server`, {
      runtime,
    });
  }
  return adapter.prepare(artifact, config);
}

/**
 * The artifact's metadata with its declared schemas, each checked first: the `inputSchema` and
 * `outputSchema` fields win over `metadata.inputSchema` / `metadata.outputSchema`. A schema that is
 * not a usable JSON Schema 2020-12 refuses the publish (`ARTIFACT_INVALID`, `details.reason:
 * invalid_schema`, `details.field`, `details.pointer` into the schema).
 */
function withDeclaredSchemas(context: EngineContext, input: PublishInput): JsonObject {
  const metadata: JsonObject = { ...input.metadata };
  for (const field of ["inputSchema", "outputSchema"] as const) {
    const declared = input[field] !== undefined ? input[field] : metadata[field];
    if (declared === undefined) continue;
    const at = input[field] !== undefined ? field : `metadata.${field}`;
    const bounds = findJsonBoundsViolation(declared);
    const problem = bounds
      ? { pointer: bounds.path.map((segment) => `/${segment}`).join(""), message: bounds.message }
      : (context.schemas?.check(declared) ?? null);
    if (problem) {
      throw new AppError("ARTIFACT_INVALID", `${at} is not a valid JSON Schema 2020-12: ${problem.message}`, {
        reason: "invalid_schema",
        field: at,
        pointer: problem.pointer,
      });
    }
    metadata[field] = declared;
  }
  return metadata;
}
