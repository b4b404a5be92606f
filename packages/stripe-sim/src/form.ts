/** The `field[key]` entries of a form-encoded Stripe request body, as `{ key: value }`. */
export function nested(body: Record<string, string>, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  const prefix = `${field}[`;
  for (const [key, value] of Object.entries(body)) {
    if (key.startsWith(prefix) && key.endsWith("]")) out[key.slice(prefix.length, -1)] = value;
  }
  return out;
}
