import type { PublishInput } from "@spell/contracts";

/** A public builtin spell (`echo` unless `builtin` says otherwise) priced `priceAmount` cents. */
export function pricedSpell(
  slug: string,
  priceAmount: number,
  options: { builtin?: string; currency?: string; metadata?: Record<string, unknown> } = {},
): PublishInput {
  return {
    slug,
    runtime: "builtin",
    artifact: { builtin: options.builtin ?? "echo" },
    visibility: "public",
    priceAmount,
    currency: options.currency ?? "usd",
    metadata: options.metadata ?? {},
  };
}

/** A public api spell calling `apiEndpoint`, priced `priceAmount` usd cents. */
export function pricedApiSpell(
  slug: string,
  apiEndpoint: string,
  priceAmount: number,
  config?: Record<string, unknown>,
): PublishInput {
  return {
    slug,
    runtime: "api",
    artifact: { apiEndpoint },
    visibility: "public",
    priceAmount,
    currency: "usd",
    ...(config ? { config } : {}),
  };
}
