/**
 * What every JSON value Spell accepts or returns must satisfy before it reaches a row, a charge or
 * a run: bounded nesting (so nothing downstream — hashing, cloning, serialising, Postgres — can
 * exhaust a stack), no U+0000 (Postgres `text`/`jsonb` cannot store it), no lone UTF-16 surrogate
 * (not encodable as UTF-8), only finite numbers (`1e400` parses to Infinity and would be stored as
 * null), in values and in keys alike. The walk is iterative: its own depth is never the caller's.
 */
export interface JsonBounds {
  /** Deepest nesting of objects and arrays accepted; the value itself is depth 1 when it is one. */
  maxDepth: number;
}

export const DEFAULT_JSON_BOUNDS: JsonBounds = { maxDepth: 64 };

export type JsonBoundsReason =
  | "too_deep"
  | "nul_character"
  | "lone_surrogate"
  | "non_finite_number"
  | "not_json";

export interface JsonBoundsViolation {
  reason: JsonBoundsReason;
  /** Where, from the checked value: object keys and array indexes. */
  path: (string | number)[];
  message: string;
}

const MESSAGES: Record<JsonBoundsReason, string> = {
  too_deep: "nested deeper than allowed",
  nul_character: "contains U+0000, which cannot be stored",
  lone_surrogate: "contains a lone UTF-16 surrogate, which is not valid Unicode",
  non_finite_number: "is not a finite number",
  not_json: "is not a JSON value",
};

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string | number | null;
}

function pathOf(frame: Frame, last?: string | number): (string | number)[] {
  const path: (string | number)[] = last === undefined ? [] : [last];
  for (let at: Frame | null = frame; at !== null && at.key !== null; at = at.parent) path.push(at.key);
  return path.reverse();
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringProblem(text: string): JsonBoundsReason | null {
  if (text.includes("\u0000")) return "nul_character";
  if (LONE_SURROGATE.test(text)) return "lone_surrogate";
  return null;
}

/** The first place where `value` breaks the bounds, or null when it is storable JSON. */
export function findJsonBoundsViolation(
  value: unknown,
  bounds: JsonBounds = DEFAULT_JSON_BOUNDS,
): JsonBoundsViolation | null {
  const stack: Frame[] = [{ value, depth: 0, parent: null, key: null }];
  const fail = (reason: JsonBoundsReason, frame: Frame, key?: string | number): JsonBoundsViolation => ({
    reason,
    path: pathOf(frame, key),
    message: `${MESSAGES[reason]}${reason === "too_deep" ? ` (at most ${bounds.maxDepth} levels)` : ""}`,
  });

  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const current = frame.value;
    switch (typeof current) {
      case "string": {
        const problem = stringProblem(current);
        if (problem) return fail(problem, frame);
        continue;
      }
      case "number":
        if (!Number.isFinite(current)) return fail("non_finite_number", frame);
        continue;
      case "boolean":
        continue;
      case "object": {
        if (current === null) continue;
        const depth = frame.depth + 1;
        if (depth > bounds.maxDepth) return fail("too_deep", frame);
        if (Array.isArray(current)) {
          for (let index = current.length - 1; index >= 0; index--) {
            stack.push({ value: current[index], depth, parent: frame, key: index });
          }
          continue;
        }
        const keys = Object.keys(current);
        for (let index = keys.length - 1; index >= 0; index--) {
          const key = keys[index] as string;
          const problem = stringProblem(key);
          if (problem) return fail(problem, frame, key);
          stack.push({ value: (current as Record<string, unknown>)[key], depth, parent: frame, key });
        }
        continue;
      }
      default:
        return fail("not_json", frame);
    }
  }
  return null;
}
