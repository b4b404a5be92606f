/**
 * Who a caller is: the pair (issuer, subject), never the subject alone — otherwise any trusted
 * issuer could mint another issuer's user's `sub` and *be* that user. Each issuer names its users in
 * a namespace, by default its own `iss`; an operator makes two issuers name the same people by giving
 * them the same `namespace`. The user id Spell stores is `namespace|sub`, or the bare `sub` in the
 * empty namespace (the one every user created before identities had namespaces lives in, so an
 * operator keeps those users by configuring `"namespace": ""` on the issuer that minted them).
 */
export const NAMESPACE_SEPARATOR = "|";

/** Operator-chosen namespaces: short, printable, and free of the separator. */
export const NAMESPACE_PATTERN = /^[\x21-\x7b\x7d\x7e]{0,200}$/;

/** The namespace an issuer's users live in. */
export function namespaceOf(config: { issuer: string; namespace?: string | undefined }): string {
  return config.namespace ?? config.issuer;
}

/** C0 and C1 control characters and DEL: invisible in logs and dashboards, a spoofing tool in ids. */
function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const MAX_SUBJECT_LENGTH = 255;

/**
 * Why a `sub` cannot name a user, or null when it can: empty or too long, control characters, lone
 * surrogates (not storable as UTF-8), or — in the empty namespace only — the separator, which would
 * let `a|b` there collide with user `b` of namespace `a`.
 */
export function subjectProblem(namespace: string, sub: string): string | null {
  if (sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH)
    return `sub must be 1 to ${MAX_SUBJECT_LENGTH} characters`;
  if (hasControlCharacter(sub)) return "sub contains control characters";
  if (LONE_SURROGATE.test(sub)) return "sub is not valid Unicode";
  if (namespace === "" && sub.includes(NAMESPACE_SEPARATOR)) {
    return `sub contains "${NAMESPACE_SEPARATOR}", which the shared empty namespace reserves`;
  }
  return null;
}

/** The stored user id for a subject of a namespace (see the module comment). */
export function userIdOf(namespace: string, sub: string): string {
  return namespace === "" ? sub : `${namespace}${NAMESPACE_SEPARATOR}${sub}`;
}
