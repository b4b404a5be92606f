import type { ListSpellsOutput } from "@spell/contracts";
import { admit } from "../access.ts";
import { type EngineContext, inputSchemaOf, outputSchemaOf } from "../context.ts";
import type { Session } from "../engine-types.ts";
import type { JsonSchema } from "../ports.ts";

/**
 * Every spell the caller may run, with its price. The publisher's `description` and `inputSchema`
 * metadata win; otherwise the runtime describes the artifact itself (builtins do).
 */
export async function listSpells(context: EngineContext, session: Session): Promise<ListSpellsOutput> {
  admit(session, "user");
  const spells = await context.spells.listRunnable(session.user.id);
  return {
    ok: true,
    spells: spells.map((spell) => {
      const metadata = spell.artifact.metadata;
      const described = context.runtimes.get(spell.runtime)?.describe?.(spell.artifact) ?? null;
      return {
        slug: spell.slug,
        runtime: spell.runtime,
        price: context.billing.quote(spell, session.user),
        visibility: spell.visibility,
        description:
          typeof metadata.description === "string" ? metadata.description : (described?.description ?? null),
        inputSchema: asObjectSchema(inputSchemaOf(context.runtimes, spell)),
        outputSchema: asObjectSchema(outputSchemaOf(context.runtimes, spell)),
      };
    }),
  };
}

/** Listings show object schemas: `true` is `{}`, `false` is `{"not": {}}`. */
function asObjectSchema(schema: JsonSchema | null): Record<string, unknown> | null {
  if (schema === null || typeof schema === "object") return schema;
  return schema ? {} : { not: {} };
}
