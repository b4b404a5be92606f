import { describe, expect, it } from "vitest";
import { createSchemaValidator } from "./validator.ts";

const PERSON = {
  type: "object",
  properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } },
  required: ["name"],
  additionalProperties: false,
};

describe("check (publish time)", () => {
  const validator = createSchemaValidator();

  it.each([
    ["a number", 5, ""],
    ["an array", [], ""],
    ["null", null, ""],
    ["a wrong type name", { type: "strng" }, "/type"],
    ["an unknown keyword (strict mode)", { type: "object", requird: ["a"] }, ""],
    ["another draft", { $schema: "http://json-schema.org/draft-07/schema#" }, "/$schema"],
    ["a remote $ref", { $ref: "https://example.test/schema.json" }, ""],
    ["a bad nested schema", { type: "object", properties: { a: { minimum: "x" } } }, "/properties/a/minimum"],
  ])("refuses %s, saying where", (_name, schema, pointer) => {
    const problem = validator.check(schema);
    expect(problem).not.toBeNull();
    expect(problem?.pointer).toBe(pointer);
    expect(problem?.message.length).toBeGreaterThan(0);
  });

  it.each([
    ["an object schema", PERSON],
    ["true", true],
    ["the 2020-12 $schema", { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object" }],
    ["local $defs and $ref", { $defs: { n: { type: "number" } }, properties: { x: { $ref: "#/$defs/n" } } }],
    ["a format (an annotation)", { type: "string", format: "email" }],
  ])("accepts %s", (_name, schema) => {
    expect(validator.check(schema)).toBeNull();
  });

  it("accepts two schemas with the same $id (two versions of one spell)", () => {
    const schema = { $id: "https://spells.test/person", ...PERSON };
    expect(validator.check(schema)).toBeNull();
    expect(validator.check({ ...schema })).toBeNull();
    expect(validator.validate("a1", "input", schema, { name: "x" })).toBeNull();
    expect(validator.validate("a2", "input", { ...schema }, { name: "y" })).toBeNull();
  });
});

describe("validate (execute time)", () => {
  it("answers null for a conforming value and JSON-pointer issues otherwise", () => {
    const validator = createSchemaValidator();
    expect(validator.validate("art", "input", PERSON, { name: "Ada", age: 36 })).toBeNull();
    const issues = validator.validate("art", "input", PERSON, { age: -1, "extra/field": 1 });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pointer: "/name", keyword: "required" }),
        expect.objectContaining({ pointer: "/age", keyword: "minimum" }),
        expect.objectContaining({ pointer: "/extra~1field", keyword: "additionalProperties" }),
      ]),
    );
  });

  it("compiles once per artifact and role: a later schema for the same key is not recompiled", () => {
    const validator = createSchemaValidator();
    expect(validator.validate("art", "input", PERSON, { name: "x" })).toBeNull();
    // An artifact version never changes: the cached validator answers even if handed another schema.
    expect(validator.validate("art", "input", false, { name: "x" })).toBeNull();
    expect(validator.validate("art", "output", false, { name: "x" })).not.toBeNull();
  });

  it("evicts the least recently used validator past its cache size", () => {
    const validator = createSchemaValidator({ cacheSize: 2 });
    validator.validate("a", "input", true, {});
    validator.validate("b", "input", true, {});
    validator.validate("a", "input", true, {}); // a is now the most recent
    validator.validate("c", "input", true, {}); // evicts b
    expect(validator.validate("a", "input", false, {})).toBeNull();
    expect(validator.validate("b", "input", false, {})).not.toBeNull();
  });

  it("caps the number of issues", () => {
    const validator = createSchemaValidator({ maxIssues: 3 });
    const schema = { type: "object", required: ["a", "b", "c", "d", "e"] };
    expect(validator.validate("art", "input", schema, {})).toHaveLength(3);
  });
});

describe("schemas stored before publish checked them", () => {
  it("are not enforced (documentation, as they were) instead of failing every execute", () => {
    const validator = createSchemaValidator();
    expect(validator.validate("old", "input", { type: "strng" }, { anything: 1 })).toBeNull();
  });
});
