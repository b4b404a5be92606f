import { SLUG_PATTERN } from "@spell/contracts";

/**
 * Tool names are slugs with their one `@` replaced by `_`: `resize@v1` → `resize_v1`.
 *
 * Reversible for every valid slug without any escaping: a slug is `name@vN` where `name` has no `@`
 * and `N` is digits, so a tool name always ends in `_v<digits>` and the LAST `_v` followed only by
 * digits is the one that was `@v` (an earlier `_v` cannot be it: what follows it contains `_v`,
 * which is not digits). Slugs are lowercase `[a-z0-9._-]` plus `@` and at most 100 characters, so
 * names fit MCP's `[A-Za-z0-9_.-]{1,128}`.
 */
export function toolNameOf(slug: string): string {
  const at = slug.lastIndexOf("@");
  return `${slug.slice(0, at)}_${slug.slice(at + 1)}`;
}

const TOOL_NAME = /^(.+)_(v[0-9]+)$/;

/** The slug a tool name stands for, or null when no slug maps to it. */
export function slugOfToolName(name: string): string | null {
  const match = TOOL_NAME.exec(name);
  if (!match) return null;
  const slug = `${match[1]}@${match[2]}`;
  return slug.length <= 100 && SLUG_PATTERN.test(slug) ? slug : null;
}
