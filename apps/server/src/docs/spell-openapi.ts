import { AppError, type ListSpellsOutput, toAppError } from "@spell/contracts";
import type { Engine } from "@spell/engine";
import type { Express } from "express";
import { sendError } from "../http/guards.ts";

type SpellSummary = ListSpellsOutput["spells"][number];

/**
 * One spell as an OpenAPI 3.1 document: `POST /spell/execute` with `spell` fixed to its slug and
 * `input`/`output` typed by its schemas (3.1 schemas are JSON Schema 2020-12, so they embed as they
 * are). Enough for an agent or a code generator to build a call.
 */
export function spellOpenApiDocument(spell: SpellSummary, baseUrl: string) {
  const input = spell.inputSchema ?? { type: "object" };
  const output = spell.outputSchema ?? {};
  return {
    openapi: "3.1.0",
    info: {
      title: `Spell ${spell.slug}`,
      version: spell.slug.slice(spell.slug.lastIndexOf("@") + 1),
      description: spell.description ?? undefined,
    },
    servers: [{ url: `${baseUrl}/api` }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
    },
    security: [{ bearer: [] }],
    paths: {
      "/spell/execute": {
        post: {
          operationId: `execute_${spell.slug.replace(/[^a-z0-9]/g, "_")}`,
          summary: `Run ${spell.slug}`,
          "x-spell-price": spell.price,
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["spell", "input"],
                  properties: {
                    spell: { const: spell.slug },
                    input,
                    idempotencyKey: { type: "string", maxLength: 255 },
                  },
                },
              },
            },
          },
          responses: {
            "200": {
              description: "The spell ran",
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    required: ["ok", "executionId", "output", "billing"],
                    properties: {
                      ok: { const: true },
                      executionId: { type: "string" },
                      output,
                      billing: { type: "object" },
                      durationMs: { type: "integer" },
                    },
                  },
                },
              },
            },
            default: { description: "A Spell error: `{ ok: false, error: { code, message, details } }`" },
          },
        },
      },
    },
  };
}

/**
 * `GET /api/spells/:slug/openapi.json`: the per-spell fragment, for callers who may run the spell
 * (visibility applies: any other spell is 404, never described).
 */
export function mountSpellOpenApi(app: Express, options: { engine: Engine; publicUrl?: string }): void {
  app.get("/api/spells/:slug/openapi.json", async (req, res) => {
    try {
      const session = await options.engine.authenticate(req.headers.authorization, "user");
      const { spells } = await options.engine.listSpells(session);
      const spell = spells.find((candidate) => candidate.slug === req.params.slug);
      if (!spell) {
        throw new AppError("SPELL_NOT_FOUND", `No spell ${req.params.slug}`, { spell: req.params.slug });
      }
      const baseUrl = options.publicUrl?.replace(/\/+$/, "") ?? `${req.protocol}://${req.get("host") ?? ""}`;
      res.json(spellOpenApiDocument(spell, baseUrl));
    } catch (thrown) {
      sendError(res, toAppError(thrown));
    }
  });
}
