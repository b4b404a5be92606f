import { AppError } from "@spell/contracts";

/**
 * Builds the exact-origin check for URLs Stripe will redirect the customer to: without it, Spell
 * would hand out Stripe-hosted pages that bounce people to any site a caller names.
 */
export function createReturnUrlCheck(
  allowedReturnOrigins: readonly string[],
): (field: string, url: string) => string {
  const allowed = new Set(allowedReturnOrigins.map((origin) => new URL(origin).origin));
  return (field, url) => {
    let origin: string;
    try {
      origin = new URL(url).origin;
    } catch {
      throw new AppError("VALIDATION_ERROR", `${field} is not a valid URL`, { field });
    }
    if (!allowed.has(origin)) {
      throw new AppError("VALIDATION_ERROR", `${field} must point to an allowed origin`, { field, origin });
    }
    return url;
  };
}
