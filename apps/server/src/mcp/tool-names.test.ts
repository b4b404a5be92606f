import { SLUG_PATTERN } from "@spell/contracts";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { slugOfToolName, toolNameOf } from "./tool-names.ts";

const slugs = fc
  .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,40}$/), fc.nat({ max: 10_000 }))
  .map(([name, version]) => `${name}@v${version}`);

describe("tool names", () => {
  it.each([
    ["resize@v1", "resize_v1"],
    ["a_v1@v2", "a_v1_v2"],
    ["x-y.z@v10", "x-y.z_v10"],
  ])("%s ↔ %s", (slug, name) => {
    expect(toolNameOf(slug)).toBe(name);
    expect(slugOfToolName(name)).toBe(slug);
  });

  it("is reversible for every valid slug and names match MCP's grammar", () => {
    fc.assert(
      fc.property(slugs, (slug) => {
        expect(SLUG_PATTERN.test(slug)).toBe(true);
        const name = toolNameOf(slug);
        expect(name).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
        expect(slugOfToolName(name)).toBe(slug);
      }),
    );
  });

  it.each(["resize", "resize_v", "Resize_v1", "_v1", "a@b_v1", "a_v1x", `${"a".repeat(100)}_v1`])(
    "maps no slug to %s",
    (name) => {
      expect(slugOfToolName(name)).toBeNull();
    },
  );
});
