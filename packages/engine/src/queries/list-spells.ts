import type { ListSpellsOutput } from "@spell/contracts";
import { admit } from "../access.ts";
import type { EngineContext } from "../context.ts";
import type { Session } from "../engine-types.ts";

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
      const declared = metadata.inputSchema;
      return {
        slug: spell.slug,
        runtime: spell.runtime,
        price: context.billing.quote(spell, session.user),
        visibility: spell.visibility,
        description:
          typeof metadata.description === "string" ? metadata.description : (described?.description ?? null),
        inputSchema:
          declared && typeof declared === "object" && !Array.isArray(declared)
            ? (declared as Record<string, unknown>)
            : (described?.inputSchema ?? null),
      };
    }),
  };
}
