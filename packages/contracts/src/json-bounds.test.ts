import { describe, expect, it } from "vitest";
import { ZExecuteInput } from "./index.ts";
import { findJsonBoundsViolation } from "./json-bounds.ts";

/** `{"a":{"a":…{"a":1}}}` with `levels` objects, built without recursion. */
function nested(levels: number, wrap: (inner: unknown) => unknown = (inner) => ({ a: inner })): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level++) value = wrap(value);
  return value;
}

describe("JSON bounds — accepted", () => {
  it("accepts ordinary JSON: strings, numbers, booleans, null, arrays, objects, emoji pairs", () => {
    const value = {
      text: "héllo 👋",
      n: -0.5,
      big: 1e300,
      yes: true,
      none: null,
      list: [1, "two", { three: 3 }],
    };
    expect(findJsonBoundsViolation(value)).toBeNull();
  });

  it("accepts nesting exactly at the limit", () => {
    expect(findJsonBoundsViolation(nested(64))).toBeNull();
    const arrays = (inner: unknown) => [inner];
    expect(findJsonBoundsViolation(nested(64, arrays))).toBeNull();
    expect(findJsonBoundsViolation(nested(65, arrays))?.reason, "arrays count as levels too").toBe(
      "too_deep",
    );
  });
});

describe("JSON bounds — refused", () => {
  it("refuses nesting one level past the limit, with the path where it happened", () => {
    const violation = findJsonBoundsViolation(nested(65));
    expect(violation?.reason).toBe("too_deep");
    expect(violation?.path).toEqual(Array(64).fill("a"));
  });

  it("refuses a configurable lower limit", () => {
    expect(findJsonBoundsViolation(nested(3), { maxDepth: 2 })?.reason).toBe("too_deep");
    expect(findJsonBoundsViolation(nested(2), { maxDepth: 2 })).toBeNull();
  });

  it("walks 100,000 levels without exhausting the stack (the check is iterative)", () => {
    const deep = JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    expect(findJsonBoundsViolation(deep)?.reason).toBe("too_deep");
  });

  it.each([
    ["U+0000 in a value", { a: ["ok", "bad\u0000"] }, "nul_character", ["a", 1]],
    ["U+0000 in a key", { a: { "k\u0000": 1 } }, "nul_character", ["a", "k\u0000"]],
    ["a lone high surrogate", { a: "x\uD83D" }, "lone_surrogate", ["a"]],
    ["a lone low surrogate", { a: "\uDC4Bx" }, "lone_surrogate", ["a"]],
    ["a lone surrogate in a key", { "\uD800": 1 }, "lone_surrogate", ["\uD800"]],
    ["Infinity (what 1e400 parses to)", { a: JSON.parse("1e400") }, "non_finite_number", ["a"]],
    ["NaN", { a: Number.NaN }, "non_finite_number", ["a"]],
    ["a value JSON cannot hold", { a: () => 1 }, "not_json", ["a"]],
  ])("refuses %s", (_name, value, reason, path) => {
    expect(findJsonBoundsViolation(value)).toMatchObject({ reason, path });
  });
});

describe("JSON bounds in the contracts", () => {
  it("refuses an execute input with U+0000, naming the field", () => {
    const parsed = ZExecuteInput.safeParse({ spell: "echo@v1", input: { text: "a\u0000b" } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["input", "text"]);
  });

  it("refuses an execute input nested past the limit", () => {
    const parsed = ZExecuteInput.safeParse({ spell: "echo@v1", input: nested(80) });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/nested deeper/);
  });

  it("accepts an ordinary execute input", () => {
    expect(ZExecuteInput.safeParse({ spell: "echo@v1", input: { text: "fine" } }).success).toBe(true);
  });
});
