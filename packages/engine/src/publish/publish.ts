import { AppError, type ArtifactInput, type PublishOutput, type RuntimeKind } from "@spell/contracts";
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
  const prepared = await prepareArtifact(context, input.runtime, input.artifact, input.config);
  const spell = await context.spells.publish({
    slug: input.slug,
    runtime: input.runtime,
    config: input.config,
    price,
    visibility: input.visibility,
    teamId: input.teamId ?? null,
    createdBy: input.ownerId ?? session.caller.userId,
    artifact: { ...prepared, metadata: input.metadata },
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
