import { AppError, findJsonBoundsViolation, type JsonObject, type RuntimeKind } from "@spell/contracts";
import type { EngineDeps } from "./engine-types.ts";
import type {
  AdminStore,
  Billing,
  Clock,
  ExecutionLog,
  JsonSchema,
  Runtime,
  SchemaIssue,
  SchemaValidator,
  SpellRecord,
  SpellStore,
  UserStore,
} from "./ports.ts";
import { attachRuntimeLog } from "./runtime-log.ts";

/** What every use case is built from: the ports and settings, resolved once when the engine is made. */
export interface EngineContext {
  authenticate: EngineDeps["authenticate"];
  users: UserStore;
  admin: AdminStore;
  spells: SpellStore;
  executions: ExecutionLog;
  billing: Billing;
  runtimes: ReadonlyMap<RuntimeKind, Runtime>;
  /** Declared input/output JSON Schemas; null: schemas are documentation only. */
  schemas: SchemaValidator | null;
  clock: Clock;
  duplicateWaitMs: number;
  staleRunningMs: number;
  /**
   * Requests of this process waiting for a concurrent duplicate (same key, or the same payment's
   * confirmation) to finish; beyond `max` a duplicate is refused at once with 409 `in_progress`.
   */
  duplicateWaiters: { active: number; max: number };
}

const systemClock: Clock = { now: () => new Date(), monotonicMs: () => performance.now() };

export function createEngineContext(deps: EngineDeps): EngineContext {
  const schemas = deps.schemas ?? null;
  const runtimes = new Map<RuntimeKind, Runtime>();
  for (const runtime of deps.runtimes) {
    // Two adapters for one kind is a wiring mistake; silently keeping one would hide it.
    if (runtimes.has(runtime.kind)) throw new Error(`Two ${runtime.kind} runtimes were given to the engine`);
    runtimes.set(runtime.kind, checkedRuntime(runtime, schemas));
  }
  return {
    authenticate: deps.authenticate,
    users: deps.users,
    admin: deps.admin,
    spells: deps.spells,
    executions: deps.executions,
    billing: deps.billing,
    runtimes,
    schemas,
    clock: deps.clock ?? systemClock,
    duplicateWaitMs: deps.duplicateWaitMs ?? 60_000,
    staleRunningMs: deps.staleRunningMs ?? 10 * 60_000,
    duplicateWaiters: { active: 0, max: 100 },
  };
}

// Spell schemas (issue 9). A spell's input schema is its publisher's (`metadata.inputSchema`), else
// the runtime's own description (builtins derive theirs from zod); likewise its output schema.

function schemaIn(value: unknown): JsonSchema | null {
  if (typeof value === "boolean") return value;
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** The JSON Schema a spell's input must satisfy, or null when none is declared or described. */
export function inputSchemaOf(
  runtimes: ReadonlyMap<RuntimeKind, Runtime>,
  spell: SpellRecord,
): JsonSchema | null {
  return (
    schemaIn(spell.artifact.metadata.inputSchema) ??
    schemaIn(runtimes.get(spell.runtime)?.describe?.(spell.artifact)?.inputSchema)
  );
}

/** The JSON Schema a spell's output must satisfy, or null when none is declared or described. */
export function outputSchemaOf(
  runtimes: ReadonlyMap<RuntimeKind, Runtime>,
  spell: SpellRecord,
): JsonSchema | null {
  return (
    schemaIn(spell.artifact.metadata.outputSchema) ??
    schemaIn(runtimes.get(spell.runtime)?.describe?.(spell.artifact)?.outputSchema)
  );
}

/** Execute, before any row, charge or run: `VALIDATION_ERROR` with JSON pointers into the body. */
export function assertInputMatchesSchema(
  context: EngineContext,
  spell: SpellRecord,
  input: JsonObject,
): void {
  if (context.schemas === null) return;
  const schema = inputSchemaOf(context.runtimes, spell);
  if (schema === null) return;
  const issues = context.schemas.validate(spell.artifact.id, "input", schema, input);
  if (issues === null) return;
  throw new AppError("VALIDATION_ERROR", `The input does not match ${spell.slug}'s input schema`, {
    issues: issues.map((issue) => issueAt("input", issue)),
  });
}

function issueAt(root: string, issue: SchemaIssue) {
  const pointer = `/${root}${issue.pointer}`;
  const path = pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replaceAll("~1", "/").replaceAll("~0", "~"));
  return { path, pointer, message: issue.message, code: "schema", keyword: issue.keyword };
}

/**
 * Every runtime's output is checked before it is answered: storable JSON (bounded depth, no U+0000,
 * no lone surrogate, finite numbers) and, when the spell declares one, its output schema. A breach
 * is a thrown `RUNTIME_ERROR`, so settlement releases the money exactly as for any failed run.
 */
function checkedRuntime(runtime: Runtime, schemas: SchemaValidator | null): Runtime {
  const describe = runtime.describe?.bind(runtime);
  const signingSecret = runtime.signingSecret?.bind(runtime);
  const runtimes = new Map([[runtime.kind, runtime]]);
  return {
    kind: runtime.kind,
    prepare: (artifact, config) => runtime.prepare(artifact, config),
    async run(invocation) {
      const result = await runtime.run(invocation);
      const violation = findJsonBoundsViolation(result.output);
      if (violation) {
        throw attachRuntimeLog(
          new AppError("RUNTIME_ERROR", `The spell's output ${violation.message}`, {
            reason: violation.reason,
            path: violation.path,
          }),
          result.log ?? "",
        );
      }
      if (schemas === null) return result;
      const { spell } = invocation;
      const schema = outputSchemaOf(runtimes, spell);
      const issues =
        schema === null ? null : schemas.validate(spell.artifact.id, "output", schema, result.output);
      if (issues !== null) {
        throw attachRuntimeLog(
          new AppError("RUNTIME_ERROR", `The spell's output does not match its output schema`, {
            reason: "output_schema",
            issues: issues.map((issue) => issueAt("output", issue)),
          }),
          result.log ?? "",
        );
      }
      return result;
    },
    close: () => runtime.close(),
    ...(describe ? { describe } : {}),
    ...(signingSecret ? { signingSecret } : {}),
  };
}
